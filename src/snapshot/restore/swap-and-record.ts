/**
 * Step 4, swap and record: the only moment the live database changes. The database swap is one
 * transaction (see ../swap.ts), so the live name always points at a complete database; the
 * staged index and files follow by rename; and the last-restore record is written whatever the
 * files did, because from the swap on the replaced database is the only copy of the old state
 * until its backup exists, and undo must know about it.
 */
import type { Context } from '../../runtime/context.js';
import type { Operation } from '../../runtime/operation.js';
import { throwIfCancelled } from '../../runtime/cancel.js';
import { faultPoint } from '../../util/fault.js';
import { swapStagedFiles } from '../full-files.js';
import { writeLastRestore } from '../state.js';
import { swapDatabases, type SwapResult } from '../swap.js';
import { markWarmRestored } from '../warm-copies.js';
import type { RestorePlan } from './preflight.js';
import { discardStaging, type Staged } from './stage.js';
import type { Verification } from './verify.js';

export async function swapAndRecord(ctx: Context, op: Operation, plan: RestorePlan, staged: Staged, verification: Verification): Promise<SwapResult> {
  const { live, previous, manifest } = plan;
  let swap: SwapResult;
  try {
    throwIfCancelled(ctx, 'before the swap');
    plan.progress({ phase: 'swapping' });
    await faultPoint('before-swap', ctx.signal);
    // The last safe point: from the swap on, the restore completes (and says it was asked to stop).
    throwIfCancelled(ctx, 'before the swap');
    verification.stopCancelling();
    swap = await swapDatabases(op.maint, ctx.store, { live, incoming: plan.staging, outgoing: previous });
  } catch (err) {
    // The swap did not commit: the live database is the old one, staging is dropped.
    await discardStaging(ctx, op, plan, verification);
    throw err;
  }
  try {
    if (staged.files) await swapStagedFiles(ctx, staged.files);
  } finally {
    // The database swap happened whatever the files did: undo must know about it, and until
    // its backup exists the replaced database is the only copy of the old state.
    if (plan.liveInfo) {
      const backupAfter = plan.takeBackup && !plan.backupFirst;
      await writeLastRestore(ctx.store, {
        database: live,
        previous_database: previous,
        snapshot_id: manifest.id,
        restored_at: new Date().toISOString(),
        undone: false,
        files: staged.files !== null,
        ...(backupAfter
          ? { backup: { status: 'pending' as const } }
          : verification.backupId
            ? { backup: { status: 'completed' as const, snapshot_id: verification.backupId } }
            : {}),
      });
    }
  }
  await faultPoint('swapped', ctx.signal);
  if (plan.warm) await markWarmRestored(ctx, manifest.id);
  return swap;
}
