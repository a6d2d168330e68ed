/**
 * Undo: puts back the database the last restore replaced, by rename (whatever its size). Repeating
 * it swaps again, so an undo can itself be undone.
 */
import { NfrError } from '../../errors.js';
import { databaseExists } from '../../postgres/databases.js';
import type { Context } from '../../runtime/context.js';
import { withOperation } from '../../runtime/operation.js';
import { assertPreviousFilesReachable, swapPreviousFiles } from '../full-files.js';
import { readLastRestore, recordEvent, writeLastRestore } from '../state.js';
import { swapDatabases } from '../swap.js';

export interface UndoResult {
  readonly database: string;
  /** The snapshot whose restore was undone (or redone, when undo is repeated). */
  readonly snapshot_id: string;
  /** True when the database now holds the state from before that restore. */
  readonly undone: boolean;
  readonly blocked_ms: number;
  readonly sessions_ended: number;
}

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
