/**
 * Restore, as a recipe (pgBackRest's src/command/restore/ is the model): each step is a file
 * beside this one, with the crash argument beside the step it protects.
 *
 *   fetch            a snapshot kept only offsite is downloaded and checked first
 *   preflight        read the manifest, check schema, server and index; nothing changes
 *   verify           every checksum (alongside staging, or first when a backup must come first)
 *   stage            warm clone or pg_restore -j into staging, row counts, migrate, stage files
 *   swap and record  one transaction renames staging into place; the last-restore record for undo
 *   backup after     the pre-restore backup, dumped from the replaced database off the critical path
 *   report           what the restore means for the index and the stored files
 *
 * Nothing touches the live database before the swap, and the swap is one transaction, so the live
 * database is never half-restored. The database the restore replaced is kept (as
 * `<live>__nfr_prev`) until the next restore, so `undo` can put it back by rename in about a
 * second whatever its size.
 */
import type { Context } from '../../runtime/context.js';
import { withOperation, type Operation } from '../../runtime/operation.js';
import { loadIndexCheck } from '../after-restore.js';
import { recordEvent } from '../state.js';
import { backupAfter } from './backup-after.js';
import { fetchFromBucket } from './fetch.js';
import { preflight, type RestoreOptions } from './preflight.js';
import { report, type RestoreResult } from './report.js';
import { stage } from './stage.js';
import { swapAndRecord } from './swap-and-record.js';
import { verify } from './verify.js';

export { checkSchema, restorePreflight, type RestoreOptions } from './preflight.js';
export type { RestoreResult } from './report.js';
export { undoLastRestore, type UndoResult } from './undo.js';

/** Restores a snapshot over the live database. */
export async function restoreSnapshot(ctx: Context, options: RestoreOptions): Promise<RestoreResult> {
  // Off the critical path: the report's index modules load while the restore waits on the database.
  if (options.resync !== true) loadIndexCheck().catch(() => {});
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
  await fetchFromBucket(ctx, op, options);
  const plan = await preflight(ctx, op, options, started);
  const verification = await verify(ctx, op, plan);
  const staged = await stage(ctx, op, plan, verification);
  const swap = await swapAndRecord(ctx, op, plan, staged, verification);
  const backup = await backupAfter(ctx, op, plan, verification);
  return report(ctx, plan, staged, swap, backup);
}
