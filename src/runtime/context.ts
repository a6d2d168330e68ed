/**
 * The context every stage runs in: the configuration, the live database and the maintenance
 * database beside it, the shared repository on disk, and how to repair what a killed operation
 * left. Ingestion, enrichment, indexing and snapshots all take it; the edges (CLI, server) open it
 * once (pipeline/context.ts) and pass it down.
 *
 * The repository under POSTGRES_BACKUP_PATH, shared by every process and server:
 *
 *   SNAP-2026-0001/                completed snapshots (snapshot/store.ts)
 *   .tmp/SNAP-2026-0002/           a create in progress (leftovers are removed on the next run)
 *   .trash/                        snapshots being deleted
 *   .locks/snapshot_operation.lock who holds the operation lock
 *   .state/                        id sequence, event log, last restore (for undo), swap journal
 */
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../config.js';
import { resolveTarget, withDatabase, type PgTarget } from '../postgres/connection.js';
import { ensureDir } from '../util/fs.js';
import { NfrError } from '../errors.js';
import type { z } from 'zod';
import type { recoveryReportSchema } from './shapes.js';
import type { CommitGate } from './cancel.js';

export interface SnapshotStore {
  readonly root: string;
  readonly tmpDir: string;
  readonly trashDir: string;
  readonly locksDir: string;
  readonly stateDir: string;
}

/** What recovery repaired before an operation started (nothing, usually). */
/** Defined once, in runtime/shapes.ts (the API's response schema is generated from it). */
export type RecoveryReport = z.infer<typeof recoveryReportSchema>;

/**
 * Repairs what killed operations left; called with the operation lock held (so nothing it finds
 * is in use) and a session on the maintenance database. The pipeline implements it
 * (pipeline/recover.ts), as a list of every stage's repair steps.
 */
export type Recovery = (ctx: Context, maint: pg.ClientBase) => Promise<RecoveryReport>;

export interface Context {
  readonly config: Config;
  /** The live database. */
  readonly target: PgTarget;
  /** Same server, maintenance database: locks, CREATE/DROP/RENAME DATABASE. */
  readonly maintenance: PgTarget;
  readonly store: SnapshotStore;
  readonly recover: Recovery;
  /**
   * Told once when an operation has to wait for the lock, with who holds it. Without it the
   * command says so on stderr; a job shows it as its step instead.
   */
  readonly onLockWait?: (holder: string) => void;
  /** Aborted when the job this context runs for is cancelled (runtime/cancel.ts). */
  readonly signal?: AbortSignal;
  /** A job's commit, ordered against cancel requests (runtime/cancel.ts); absent outside jobs. */
  readonly commitGate?: CommitGate;
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

/** Resolves the live database (starting the embedded cluster if needed) and prepares the repository. */
export async function openRuntimeContext(config: Config, recover: Recovery): Promise<Context> {
  const target = await resolveTarget(config);
  const store = snapshotStore(config.backupPath);
  await ensureStore(store);
  return Object.freeze({ config, target, maintenance: withDatabase(target, config.maintenanceDb), store, recover });
}

export async function ensureStore(store: SnapshotStore): Promise<void> {
  for (const dir of [store.root, store.tmpDir, store.trashDir, store.locksDir, store.stateDir]) {
    try {
      await ensureDir(dir);
    } catch (err) {
      throw backupPathError(store.root, err, dir);
    }
  }
}

/**
 * A repository that cannot be a directory (POSTGRES_BACKUP_PATH names a file, or a path through
 * one) or cannot be read or written is a configuration error naming the variable and the path, where
 * mkdir's EEXIST/ENOTDIR/EACCES read as an internal error. Anything else is returned as it is.
 */
export function backupPathError(root: string, err: unknown, dir = root): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if ((code === 'EEXIST' || code === 'ENOTDIR') && dir !== root) return new NfrError('CONFIG', `${dir} in POSTGRES_BACKUP_PATH is a file where nfr keeps a directory; move it away`, { details: { path: dir } });
  if (code === 'EEXIST' || code === 'ENOTDIR') return new NfrError('CONFIG', `POSTGRES_BACKUP_PATH ${root} is not a directory (it, or a folder on its path, is a file); point it at a directory`, { details: { path: root } });
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new NfrError('CONFIG', `POSTGRES_BACKUP_PATH ${root} cannot be used (${code}: this user may not read or write it); point it at a directory this user may read and write`, { details: { path: root } });
  return err;
}
