/**
 * Restore: verify → schema check → pg_restore -j (or a clone of the snapshot's warm copy) into a
 * staging database → row counts against the manifest → swap → pre-restore backup, dumped from
 * the replaced database (a full restore takes it before the swap). Nothing touches the live
 * database before the swap, and the swap is one transaction, so the live database is never
 * half-restored.
 *
 * The database the restore replaced is kept (as `<live>__nfr_prev`) until the next restore, so
 * `undo` can put it back by rename in about a second whatever its size.
 */
import { throwIfCancelled } from '../runtime/cancel.js';
import path from 'node:path';
import { NfrError, toNfrError } from '../errors.js';
import { serverMajor, withClient, withDatabase } from '../postgres/connection.js';
import { cloneDatabase, createDatabaseLike, databaseExists, databaseInfo, derivedDatabaseName, dropDatabase } from '../postgres/databases.js';
import { migrateToHead } from '../postgres/migrate.js';
import { findClientTool } from '../postgres/tools.js';
import { faultPoint } from '../util/fault.js';
import { afterRestore, type AfterRestoreReport } from './after-restore.js';
import { assertIndexCompatible, assertPreviousFilesReachable, discardStaged, stageFiles, swapPreviousFiles, swapStagedFiles } from './full-files.js';
import type { SnapshotId } from './ids.js';
import type { Manifest } from './manifest.js';
import { withOperation, type Operation, type ProgressListener } from '../runtime/operation.js';
import { readLastRestore, recordEvent, writeLastRestore } from './state.js';
import { DUMP_DIR } from './store.js';
import { type Context } from '../runtime/context.js';
import { swapDatabases } from './swap.js';
import { assertVerified, loadSnapshot } from './verify.js';
import { checkRowCounts, restoreArchive } from './restore-archive.js';
import { schemaRelation } from './restore-plan.js';
import { backupLiveBeforeSwap, backupReplacedDatabase, needsBackup, secureKeptDatabase } from './pre-restore-backup.js';
import { markWarmRestored, usableWarmCopy } from './warm-copies.js';

export interface RestoreOptions {
  readonly id: SnapshotId;
  readonly skipBackup?: boolean | undefined;
  readonly force?: boolean | undefined;
  readonly jobs?: number | undefined;
  /** Bring the vector index in line with the restored controls, inside the same operation. */
  readonly resync?: boolean | undefined;
  readonly onProgress?: ProgressListener | undefined;
}

export interface RestoreResult {
  readonly snapshot_id: string;
  readonly database: string;
  /** `warm copy`: cloned from the snapshot's warm template database instead of pg_restore. */
  readonly restored_from: 'archive' | 'warm copy';
  readonly pre_restore_backup_id: string | null;
  /** Set when the backup dumped after the swap failed; the replaced database is kept (undo works). */
  readonly pre_restore_backup_error: string | null;
  /** Where the replaced database is kept for `restore --undo` (null if there was none). */
  readonly previous_database: string | null;
  readonly schema: { readonly snapshot: string | null; readonly code: string; readonly migrated: string[] };
  readonly pipeline_stage: string | null;
  readonly tables_checked: number;
  readonly rows_restored: number;
  readonly blocked_ms: number;
  readonly sessions_ended: number;
  /** What the restore means for the vector index and the stored files, and how to fix it. */
  readonly after_restore: AfterRestoreReport;
  readonly duration_ms: number;
}

/** Restores a snapshot over the live database. */
export async function restoreSnapshot(ctx: Context, options: RestoreOptions): Promise<RestoreResult> {
  return withOperation(ctx, 'restore', options.id, async (op) => {
    const started = Date.now();
    try {
      const result = await restoreLocked(ctx, op, options, started);
      await recordEvent(ctx.store, { operation: 'restore', status: 'completed', snapshot_id: options.id, duration_ms: result.duration_ms, details: { blocked_ms: result.blocked_ms } });
      return result;
    } catch (err) {
      await recordEvent(ctx.store, { operation: 'restore', status: 'failed', snapshot_id: options.id, duration_ms: Date.now() - started, error: (err as Error).message }).catch(() => {});
      throw err;
    }
  });
}

async function restoreLocked(ctx: Context, op: Operation, options: RestoreOptions, started: number): Promise<RestoreResult> {
  const progress = options.onProgress ?? (() => {});
  const jobs = options.jobs ?? ctx.config.parallelJobs;
  const live = ctx.target.database;

  progress({ phase: 'verifying' });
  const { dir, manifest } = await loadSnapshot(ctx.store, options.id);
  const schema = checkSchema(manifest, options.force === true);
  const full = manifest.kind === 'full';
  if (full) await assertIndexCompatible(ctx.config, manifest.index);
  const { major } = await serverMajor(op.maint);
  if (major !== manifest.database.server_major) {
    throw new NfrError('SCHEMA_MISMATCH', `snapshot ${manifest.id} was dumped from PostgreSQL ${manifest.database.server_major}; this server is ${major}. Restore it with pg_restore ${manifest.database.server_major} by hand, or on a matching server`);
  }
  const warm = await usableWarmCopy(ctx, op.maint, manifest.id);
  const pgRestore = warm ? null : await findClientTool('pg_restore', major, ctx.config.pgBinDir);
  const liveInfo = await databaseInfo(op.maint, live);
  const previous = derivedDatabaseName(live, 'prev');
  // The database the last restore replaced is kept for undo until this restore has a verified
  // snapshot to put in its place; dropping it early also keeps DROP DATABASE's checkpoint away
  // from the swap. If it never got its backup, it gets one first (or the restore is refused).
  const dropPrevious = async () => {
    if (!liveInfo) return;
    // On a session of its own: this may run while the staging database is being made on maint.
    await withClient(ctx.maintenance, (client) => dropDatabase(client, previous), 'nfr restore');
    // Should this restore fail from here on, status must not offer an undo that cannot work.
    const last = await readLastRestore(ctx.store, live);
    if (last && !last.previous_dropped) await writeLastRestore(ctx.store, { ...last, previous_dropped: true });
  };

  const takeBackup = liveInfo !== undefined && options.skipBackup !== true;
  // A full restore's backup must capture the index and files as they are live, so it is taken
  // first; a database-only restore's is dumped from the replaced database after the swap.
  const backupFirst = takeBackup && full;
  // Checksums are verified before anything is written. Without a backup to take first, the
  // check runs alongside pg_restore into the staging database, which it aborts on a mismatch:
  // staging is never live, so nothing is touched either way, and the hashing costs no time.
  // A warm copy was built from the verified archive and is checked by its row counts, so only
  // the snapshot's other files (index, ingested files) are read.
  const abort = new AbortController();
  // A cancelled job stops pg_restore into the staging database; the live one is never touched.
  const onCancel = () => abort.abort();
  ctx.signal?.addEventListener('abort', onCancel, { once: true });
  const verifying = assertVerified(dir, manifest, jobs, warm ? (file) => !file.startsWith(`${DUMP_DIR}/`) : undefined);
  let backupId: string | null = null;
  const early = backupFirst || needsBackup(await readLastRestore(ctx.store, live));
  if (early) {
    await verifying;
    await secureKeptDatabase(ctx, op, jobs);
    await dropPrevious();
  }
  if (backupFirst) {
    progress({ phase: 'backup' });
    backupId = await backupLiveBeforeSwap(ctx, op, manifest, jobs);
  }
  const verified = early
    ? Promise.resolve()
    : verifying.then(dropPrevious, (err: unknown) => {
        abort.abort();
        throw err;
      });
  verified.catch(() => {}); // observed below; avoids an unhandled rejection while pg_restore runs

  const staging = derivedDatabaseName(live, 'staging');
  let swapped = false;
  try {
    await dropDatabase(op.maint, staging);
    const stagingTarget = withDatabase(ctx.target, staging);
    try {
      if (warm) {
        progress({ phase: 'cloning', tables_done: 0, tables_total: manifest.tables.length, bytes: warm.size_bytes });
        await cloneDatabase(op.maint, staging, warm.database);
      } else {
        await createDatabaseLike(op.maint, staging, liveInfo ?? manifest.database);
        await restoreArchive(op.maint, pgRestore as string, stagingTarget, path.join(dir, DUMP_DIR), manifest, jobs, progress, abort.signal);
      }
    } catch (err) {
      await verified; // a checksum failure explains an aborted pg_restore better than the abort
      throw err;
    }
    await verified;
    throwIfCancelled(ctx, 'after restoring into the staging database, before the swap');
    await faultPoint('restored');
    progress({ phase: 'checking', tables_done: 0, tables_total: manifest.tables.length });
    const rows = await checkRowCounts(stagingTarget, manifest, jobs);
    let migrated: string[] = [];
    if (schema.migrate) {
      progress({ phase: 'migrating' });
      migrated = await migrateToHead(stagingTarget);
    }

    // The index and ingested files of a full snapshot are copied next to their live
    // directories (a Qdrant index: uploaded into a new collection) now, and put in place by
    // rename (Qdrant: one alias switch) right after the database swap.
    const staged = full ? await stageFiles(ctx, dir, manifest) : null;
    await faultPoint('files-staged');

    throwIfCancelled(ctx, 'before the swap');
    progress({ phase: 'swapping' });
    await faultPoint('before-swap', ctx.signal);
    // The last safe point: from the swap on, the restore completes (and says it was asked to stop).
    throwIfCancelled(ctx, 'before the swap');
    ctx.signal?.removeEventListener('abort', onCancel);
    const backupAfter = takeBackup && !backupFirst;
    const swap = await swapDatabases(op.maint, ctx.store, { live, incoming: staging, outgoing: previous });
    swapped = true;
    try {
      if (staged) await swapStagedFiles(ctx, staged);
    } finally {
      // The database swap happened whatever the files did: undo must know about it, and until
      // its backup exists the replaced database is the only copy of the old state.
      if (liveInfo) {
        await writeLastRestore(ctx.store, {
          database: live,
          previous_database: previous,
          snapshot_id: manifest.id,
          restored_at: new Date().toISOString(),
          undone: false,
          files: staged !== null,
          ...(backupAfter ? { backup: { status: 'pending' as const } } : backupId ? { backup: { status: 'completed' as const, snapshot_id: backupId } } : {}),
        });
      }
    }
    await faultPoint('swapped', ctx.signal);
    if (warm) await markWarmRestored(ctx, manifest.id);
    let backupError: string | null = null;
    if (backupAfter) {
      progress({ phase: 'backup-after-swap' });
      const outcome = await backupReplacedDatabase(ctx, op, previous, manifest.id, jobs);
      backupId = outcome.snapshot_id;
      backupError = outcome.error;
    }
    progress({ phase: options.resync ? 'resyncing' : 'reporting' });
    const after = await withClient(ctx.target, (client) => afterRestore(ctx.config, client, manifest, options.resync === true), 'nfr restore report').catch((err: unknown) => {
      const e = toNfrError(err);
      throw new NfrError(e.code, `${manifest.id} was restored, but ${options.resync ? 'the index resync' : 'the post-restore report'} failed: ${e.message}`, { cause: err });
    });
    progress({ phase: 'completed', tables_done: manifest.tables.length, tables_total: manifest.tables.length });
    return {
      snapshot_id: manifest.id,
      database: live,
      restored_from: warm ? 'warm copy' : 'archive',
      pre_restore_backup_id: backupId,
      pre_restore_backup_error: backupError,
      previous_database: liveInfo ? previous : null,
      schema: { snapshot: manifest.database.schema_version, code: schema.code, migrated },
      pipeline_stage: manifest.database.pipeline_stage,
      tables_checked: manifest.tables.length,
      rows_restored: rows,
      blocked_ms: swap.blocked_ms,
      sessions_ended: swap.sessions_ended,
      after_restore: after,
      duration_ms: Date.now() - started,
    };
  } finally {
    if (!swapped) {
      await discardStaged(ctx).catch(() => {});
      abort.abort();
      await verified.catch(() => {});
      await dropDatabase(op.maint, staging).catch(() => {});
    }
  }
}

/**
 * The checks a restore makes before it changes anything, for callers that want to fail before
 * asking for confirmation: the snapshot exists and its schema version is acceptable.
 */
export async function restorePreflight(ctx: Context, id: SnapshotId, force: boolean): Promise<Manifest> {
  const { manifest } = await loadSnapshot(ctx.store, id);
  checkSchema(manifest, force);
  return manifest;
}

/**
 * Newer than the code → refuse always; different → refuse unless forced, in which case the
 * restored database is migrated to head before it goes live.
 */
function checkSchema(manifest: Manifest, force: boolean): { code: string; migrate: boolean } {
  const snap = manifest.database.schema_version;
  const { code, relation } = schemaRelation(snap);
  if (relation === 'same') return { code, migrate: false };
  if (relation === 'newer') {
    throw new NfrError('SCHEMA_MISMATCH', `snapshot ${manifest.id} has schema version ${snap}, which this version of nfr does not know (its head is ${code}); restore it with a newer nfr`);
  }
  if (!force) {
    throw new NfrError(
      'SCHEMA_MISMATCH',
      `snapshot ${manifest.id} has schema version ${snap ?? '(none)'} but this code is at ${code}. ` +
        'Re-run with --force to restore it and migrate the restored database to the current schema',
    );
  }
  return { code, migrate: true };
}

export interface UndoResult {
  readonly database: string;
  /** The snapshot whose restore was undone (or redone, when undo is repeated). */
  readonly snapshot_id: string;
  /** True when the database now holds the state from before that restore. */
  readonly undone: boolean;
  readonly blocked_ms: number;
  readonly sessions_ended: number;
}

/**
 * Puts back the database the last restore replaced, by rename. Repeating it swaps again, so an
 * undo can itself be undone.
 */
export async function undoLastRestore(ctx: Context): Promise<UndoResult> {
  return withOperation(ctx, 'undo', null, async (op) => {
    const live = ctx.target.database;
    const last = await readLastRestore(ctx.store, live);
    if (!last) throw new NfrError('NOT_FOUND', `there is no restore of "${live}" to undo`);
    if (!(await databaseExists(op.maint, last.previous_database))) {
      throw new NfrError('NOT_FOUND', `the database replaced by the restore of ${last.snapshot_id} ("${last.previous_database}") no longer exists; restore a snapshot instead (the pre-restore backup is tagged pre-restore)`);
    }
    const started = Date.now();
    if (last.files) await assertPreviousFilesReachable(ctx);
    const swap = await swapDatabases(op.maint, ctx.store, { live, incoming: last.previous_database, outgoing: last.previous_database });
    if (last.files) await swapPreviousFiles(ctx);
    const undone = !last.undone;
    await writeLastRestore(ctx.store, { ...last, undone, restored_at: new Date().toISOString() });
    await recordEvent(ctx.store, { operation: 'undo', status: 'completed', snapshot_id: last.snapshot_id, duration_ms: Date.now() - started, details: { blocked_ms: swap.blocked_ms, undone } });
    return { database: live, snapshot_id: last.snapshot_id, undone, blocked_ms: swap.blocked_ms, sessions_ended: swap.sessions_ended };
  });
}
