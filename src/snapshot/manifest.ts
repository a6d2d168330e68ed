/**
 * The manifest: the source of truth for a snapshot. Written atomically once the archive is
 * complete and checksummed; a directory without a valid manifest is never listed as completed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { NfrError } from '../errors.js';
import { INDEX_BACKENDS } from '../index/snapshot.js';
import { atomicWriteFile } from '../util/fs.js';
import { MANIFEST_FILE } from './store.js';
import type { snapshotSummarySchema, warmSummarySchema } from './shapes.js';

export const MANIFEST_FORMAT = 'nfr-snapshot/1';

const fileEntry = z.object({
  path: z.string().regex(/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/, 'a relative path without ..').refine((p) => !p.split('/').includes('..')),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});

/** The history mark a create records (snapshot/diff/history-mark.ts HistoryMark). */
export const historyMarkSchema = z.object({
  /** The latest tx_from/tx_to in the history, ISO 8601 with microseconds (null: no history). */
  high_water: z.string().nullable(),
  digest: z.string(),
});

const tableEntry = z.object({
  schema: z.string(),
  name: z.string(),
  rows: z.number().int().nonnegative(),
});

/** The manifest's fields, as written; manifestSchema also fills what older manifests lack. */
export const manifestFields = z.object({
  format: z.literal(MANIFEST_FORMAT),
  id: z.string().regex(/^SNAP-\d{4}-\d{4,9}$/),
  name: z.string(),
  description: z.string().nullable(),
  tags: z.array(z.string()),
  status: z.literal('completed'),
  kind: z.enum(['postgres', 'full']),
  created_at: z.string(),
  completed_at: z.string(),
  duration_ms: z.number().int().nonnegative(),
  database: z.object({
    name: z.string(),
    server_version: z.string(),
    server_major: z.number().int(),
    pg_dump_version: z.string(),
    schema_version: z.string().nullable(),
    pipeline_stage: z.string().nullable(),
    pipeline_counts: z.record(z.string(), z.unknown()).nullable(),
    size_bytes: z.number().int().nonnegative(),
    encoding: z.string(),
    collate: z.string(),
    ctype: z.string(),
  }),
  dump: z.object({
    format: z.literal('directory'),
    path: z.string(),
    jobs: z.number().int().positive(),
    compression: z.number().int().min(0).max(9),
  }),
  tables: z.array(tableEntry),
  files: z.array(fileEntry),
  total_bytes: z.number().int().nonnegative(),
  contains: z.object({
    postgres: z.boolean(),
    vector_index: z.boolean(),
    ingested_files: z.boolean(),
  }),
  /** Full snapshots: the model, dimension and distance of the captured vector index. */
  index: z
    .object({
      backend: z.enum(INDEX_BACKENDS),
      model: z.string(),
      dimension: z.number().int(),
      distance: z.string(),
      points: z.number().int().nonnegative(),
      /** An index held by a server: the physical collection the snapshot was taken of. */
      collection: z.string().optional(),
      /** An index captured as one file: that file, relative to the snapshot directory. */
      file: z.string().optional(),
    })
    .nullable()
    .optional(),
  /**
   * The high-water mark of the transaction-time history and a digest of the history up to it
   * (snapshot/diff/history-mark.ts): a diff reads the snapshot's state from the live history when
   * the live database descends from it. Manifests written before it was added have none.
   */
  history: historyMarkSchema.nullable().optional(),
  created_by: z.object({
    host: z.string(),
    pid: z.number().int(),
    nfr_version: z.string(),
  }),
  /**
   * database.schema_version and database.pipeline_stage again, at the top where scripts look first
   * (as in `list`). Manifests written before they were added get them when read.
   */
  schema_version: z.string().nullable().optional(),
  pipeline_stage: z.string().nullable().optional(),
});

export const manifestSchema = manifestFields.transform((m) => ({ ...m, schema_version: m.schema_version ?? m.database.schema_version, pipeline_stage: m.pipeline_stage ?? m.database.pipeline_stage }));

export type Manifest = z.infer<typeof manifestSchema>;
export type TableCount = z.infer<typeof tableEntry>;
export type FileEntry = z.infer<typeof fileEntry>;

/** Reads and validates a snapshot directory's manifest. */
export async function readManifest(dir: string): Promise<Manifest> {
  const file = path.join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NfrError('NOT_FOUND', `snapshot directory ${path.basename(dir)} has no ${MANIFEST_FILE}`, { details: { file } });
    // A manifest that is a directory or unreadable is a damaged snapshot, not an internal error.
    throw new NfrError('VERIFY_FAILED', `manifest ${file} cannot be read: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new NfrError('VERIFY_FAILED', `manifest ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new NfrError('VERIFY_FAILED', `manifest ${file} is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown problem'}`);
  }
  return parsed.data;
}

/**
 * The manifest of the catalog's directory `id`: one naming another snapshot (a directory copied or
 * renamed by hand) is damaged, for listing as for verify and restore.
 */
export async function readSnapshotManifest(dir: string, id: string): Promise<Manifest> {
  const manifest = await readManifest(dir);
  if (manifest.id !== id) throw new NfrError('VERIFY_FAILED', `snapshot directory ${id} holds the manifest of ${manifest.id}`);
  return manifest;
}

export async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  await atomicWriteFile(path.join(dir, MANIFEST_FILE), JSON.stringify(manifestSchema.parse(manifest), null, 2) + '\n');
}

/** A warm copy as the catalog shows it (see warm-copies.ts); defined once, in snapshot/shapes.ts. */
export type WarmSummary = NonNullable<z.infer<typeof warmSummarySchema>>;

/** The catalog view of a manifest: what `list` shows; `warm` is its warm copy, if any. */
export function summarize(m: Manifest, warm?: WarmSummary | undefined): SnapshotSummary {
  return {
    id: m.id,
    name: m.name,
    description: m.description,
    tags: m.tags,
    status: m.status,
    kind: m.kind,
    created_at: m.created_at,
    completed_at: m.completed_at,
    duration_ms: m.duration_ms,
    database: m.database.name,
    schema_version: m.database.schema_version,
    pipeline_stage: m.database.pipeline_stage,
    total_bytes: m.total_bytes,
    tables: m.tables.length,
    rows: m.tables.reduce((sum, t) => sum + t.rows, 0),
    warm: warm ? { database: warm.database, size_bytes: warm.size_bytes, warmed_at: warm.warmed_at, last_restored_at: warm.last_restored_at } : null,
  };
}

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type SnapshotSummary = z.infer<typeof snapshotSummarySchema>;
