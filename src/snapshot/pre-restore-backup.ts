/**
 * The pre-restore backup: a listed snapshot (tagged `pre-restore`) of the state a restore
 * replaces. For a database-only restore it is dumped after the swap, from the replaced database
 * the restore keeps for undo (`<db>__nfr_prev`): nobody writes to it, and the live database is
 * back without waiting for the dump. A full restore also replaces the index and the ingested
 * files, which must be captured as they are live, so its backup is taken before the swap.
 *
 * Until that backup exists, the kept database is the only copy of the old state. The last-restore
 * record says so (`backup.status` pending or failed), `status` and `health` report it, and the
 * next restore backs the kept database up before it drops it, or refuses.
 */
import { NfrError, messageOf } from '../errors.js';
import { escapeIdentifier, withDatabase } from '../postgres/connection.js';
import { databaseExists } from '../postgres/databases.js';
import { faultPoint } from '../util/fault.js';
import { createSnapshotLocked } from './create.js';
import type { Manifest } from './manifest.js';
import type { Operation } from '../runtime/operation.js';
import { readLastRestore, writeLastRestore, type LastRestore } from './state.js';
import type { Context } from '../runtime/context.js';

export interface BackupOutcome {
  readonly snapshot_id: string | null;
  readonly error: string | null;
}

function backupOptions(live: string, manifestId: string, jobs: number, full: boolean) {
  return {
    name: `pre-restore backup before ${manifestId}`,
    description: `Automatic backup of "${live}" taken before restoring ${manifestId}`,
    tags: ['pre-restore'],
    jobs,
    full,
  };
}

/** A full restore's backup, of the live database, index and files, before anything changes. */
export async function backupLiveBeforeSwap(ctx: Context, op: Operation, manifest: Manifest, jobs: number): Promise<string> {
  const backup = await createSnapshotLocked(ctx, op, backupOptions(ctx.target.database, manifest.id, jobs, true));
  await op.lock.update(manifest.id);
  return backup.id;
}

/**
 * Dumps the database a restore just replaced (kept as `previous`), recording the outcome in the
 * last-restore record. A failure does not undo the restore: it is reported, and the kept
 * database stays until it has a backup.
 */
export async function backupReplacedDatabase(ctx: Context, op: Operation, previous: string, snapshotId: string, jobs: number): Promise<BackupOutcome> {
  const live = ctx.target.database;
  try {
    await faultPoint('backup-after-swap');
    const id = await dumpKept(ctx, op, previous, `pre-restore backup before ${snapshotId}`, `Automatic backup of "${live}" taken before restoring ${snapshotId} (dumped from the replaced database after the swap)`, jobs);
    await op.lock.update(snapshotId);
    await setBackup(ctx, { status: 'completed', snapshot_id: id });
    return { snapshot_id: id, error: null };
  } catch (err) {
    const error = `the pre-restore backup failed (${messageOf(err)}); the replaced database is kept as "${previous}", and undo still works`;
    await setBackup(ctx, { status: 'failed', error }).catch(() => {});
    return { snapshot_id: null, error };
  }
}

/**
 * Before a restore drops the database the previous restore kept: if that database never got its
 * backup (a failed or killed post-swap dump), it is backed up now, or the restore is refused.
 */
export async function secureKeptDatabase(ctx: Context, op: Operation, jobs: number): Promise<string | null> {
  const last = await readLastRestore(ctx.store, ctx.target.database);
  if (!needsBackup(last) || !last || !(await databaseExists(op.maint, last.previous_database))) return null;
  try {
    const id = await dumpKept(ctx, op, last.previous_database, `backup of the state before the restore of ${last.snapshot_id}`, `Backup of "${ctx.target.database}" as it was before restoring ${last.snapshot_id}, taken from the kept database because that restore's own backup did not complete`, jobs);
    await setBackup(ctx, { status: 'completed', snapshot_id: id });
    return id;
  } catch (err) {
    throw new NfrError(
      'TOOL_FAILED',
      `the database kept by the restore of ${last.snapshot_id} ("${last.previous_database}") is the only copy of the state before it (its pre-restore backup did not complete), and backing it up now failed: ${messageOf(err)}. Nothing was changed; fix the cause and retry, or undo that restore first`,
      { cause: err },
    );
  }
}

/** True when the kept database holds an old state that has no backup snapshot yet. */
export function needsBackup(last: LastRestore | undefined): boolean {
  return last !== undefined && !last.undone && !last.previous_dropped && (last.backup?.status === 'pending' || last.backup?.status === 'failed');
}

async function dumpKept(ctx: Context, op: Operation, database: string, name: string, description: string, jobs: number): Promise<string> {
  // The kept database refuses connections (the swap closed it); pg_dump needs one, briefly.
  await op.maint.query(`alter database ${escapeIdentifier(database)} with allow_connections true`);
  try {
    const m = await createSnapshotLocked({ ...ctx, target: withDatabase(ctx.target, database) }, op, { name, description, tags: ['pre-restore'], jobs, databaseName: ctx.target.database });
    return m.id;
  } finally {
    await op.maint.query(`alter database ${escapeIdentifier(database)} with allow_connections false`).catch(() => {});
  }
}

async function setBackup(ctx: Context, backup: NonNullable<LastRestore['backup']>): Promise<void> {
  const last = await readLastRestore(ctx.store, ctx.target.database);
  if (last) await writeLastRestore(ctx.store, { ...last, backup });
}
