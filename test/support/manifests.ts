/**
 * A completed manifest for a directory of files written by hand (no database behind it): what
 * the offsite tests and bench push and fetch when only the files matter.
 */
import type { Manifest } from '../../src/snapshot/manifest.js';

export interface ManifestFile {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
}

export function filesManifest(id: string, name: string, files: readonly ManifestFile[]): Manifest {
  const now = new Date().toISOString();
  return {
    format: 'nfr-snapshot/1',
    id,
    name,
    description: null,
    tags: [],
    status: 'completed',
    kind: 'postgres',
    created_at: now,
    completed_at: now,
    duration_ms: 0,
    database: { name, server_version: '16', server_major: 16, pg_dump_version: '16', schema_version: null, pipeline_stage: null, pipeline_counts: null, size_bytes: 0, encoding: 'UTF8', collate: 'C', ctype: 'C' },
    dump: { format: 'directory', path: 'db', jobs: 2, compression: 1 },
    tables: [],
    files,
    total_bytes: files.reduce((n, f) => n + f.size, 0),
    contains: { postgres: true, vector_index: false, ingested_files: false },
    created_by: { host: 'test', pid: process.pid, nfr_version: '0' },
  } as unknown as Manifest;
}
