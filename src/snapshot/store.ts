/**
 * Where a snapshot lives in the repository (runtime/context.ts has the repository's layout):
 *
 *   SNAP-2026-0001/manifest.json   completed snapshots (the catalog is these directories)
 *   SNAP-2026-0001/db/             pg_dump directory-format archive
 */
import path from 'node:path';
import type { SnapshotStore } from '../runtime/context.js';
import type { SnapshotId } from './ids.js';

export function snapshotDir(store: SnapshotStore, id: SnapshotId): string {
  return path.join(store.root, id);
}

export const MANIFEST_FILE = 'manifest.json';
export const DUMP_DIR = 'db';
