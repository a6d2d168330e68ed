/**
 * The on-disk layout under POSTGRES_BACKUP_PATH and the context every snapshot operation runs in.
 *
 *   SNAP-2026-0001/manifest.json   completed snapshots (the catalog is these directories)
 *   SNAP-2026-0001/db/             pg_dump directory-format archive
 *   .tmp/SNAP-2026-0002/           a create in progress (leftovers are removed on the next run)
 *   .trash/                        snapshots being deleted
 *   .locks/snapshot_operation.lock who holds the operation lock
 *   .state/                        id sequence, event log, last restore (for undo), swap journal
 */
import path from 'node:path';
import type { Config } from '../config.js';
import { resolveTarget, withDatabase, type PgTarget } from '../postgres/connection.js';
import { ensureDir } from '../util/fs.js';
import type { SnapshotId } from './ids.js';

export interface SnapshotStore {
  readonly root: string;
  readonly tmpDir: string;
  readonly trashDir: string;
  readonly locksDir: string;
  readonly stateDir: string;
}

export interface SnapshotContext {
  readonly config: Config;
  /** The live database. */
  readonly target: PgTarget;
  /** Same server, maintenance database: locks, CREATE/DROP/RENAME DATABASE. */
  readonly maintenance: PgTarget;
  readonly store: SnapshotStore;
  /**
   * Told once when an operation has to wait for the lock, with who holds it. Without it the
   * command says so on stderr; a job shows it as its step instead.
   */
  readonly onLockWait?: (holder: string) => void;
}

export function snapshotStore(root: string): SnapshotStore {
  return Object.freeze({
    root,
    tmpDir: path.join(root, '.tmp'),
    trashDir: path.join(root, '.trash'),
    locksDir: path.join(root, '.locks'),
    stateDir: path.join(root, '.state'),
  });
}

export function snapshotDir(store: SnapshotStore, id: SnapshotId): string {
  return path.join(store.root, id);
}

export const MANIFEST_FILE = 'manifest.json';
export const DUMP_DIR = 'db';

/** Resolves the live database (starting the embedded cluster if needed) and prepares the store. */
export async function openSnapshotContext(config: Config): Promise<SnapshotContext> {
  const target = await resolveTarget(config);
  const store = snapshotStore(config.backupPath);
  await ensureStore(store);
  return Object.freeze({ config, target, maintenance: withDatabase(target, config.maintenanceDb), store });
}

export async function ensureStore(store: SnapshotStore): Promise<void> {
  for (const dir of [store.root, store.tmpDir, store.trashDir, store.locksDir, store.stateDir]) await ensureDir(dir);
}
