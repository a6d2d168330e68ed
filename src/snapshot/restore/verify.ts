/**
 * Step 2, verify (and, when a backup must come first, back up): every checksum is checked before
 * anything is written, and the database the previous restore kept for undo is dropped only once
 * this snapshot is known good.
 */
import { withClient } from '../../postgres/connection.js';
import { dropDatabase } from '../../postgres/databases.js';
import type { Context } from '../../runtime/context.js';
import type { Operation } from '../../runtime/operation.js';
import { backupLiveBeforeSwap, needsBackup, secureKeptDatabase } from '../pre-restore-backup.js';
import { readLastRestore, writeLastRestore } from '../state.js';
import { DUMP_DIR } from '../store.js';
import { assertVerified } from '../verify.js';
import { discardPrevious } from '../discard.js';
import type { RestorePlan } from './preflight.js';

export interface Verification {
  /** Settles when every checksum has been read (and the kept database dropped): rejects on a mismatch. */
  readonly verified: Promise<void>;
  /** Aborts pg_restore into staging, which a checksum failure does. */
  readonly abort: AbortController;
  /** The pre-restore backup, when it was taken before the swap (a full restore). */
  readonly backupId: string | null;
  /** From the swap on a cancelled job no longer aborts anything: the restore completes. */
  readonly stopCancelling: () => void;
}

export async function verify(ctx: Context, op: Operation, plan: RestorePlan): Promise<Verification> {
  const { dir, manifest, jobs, warm } = plan;
  // Without a backup to take first, the check runs alongside pg_restore into the staging
  // database, which it aborts on a mismatch: staging is never live, so nothing is touched either
  // way, and the hashing costs no time. A warm copy was built from the verified archive and is
  // checked by its row counts, so only the snapshot's other files (index, ingested files) are read.
  const abort = new AbortController();
  // A cancelled job stops pg_restore into the staging database; the live one is never touched.
  const onCancel = () => abort.abort();
  ctx.signal?.addEventListener('abort', onCancel, { once: true });
  const verifying = assertVerified(dir, manifest, jobs, warm ? (file) => !file.startsWith(`${DUMP_DIR}/`) : undefined);
  // If the kept database never got its backup, it gets one first (or the restore is refused),
  // and that only once this snapshot is known good.
  const early = plan.backupFirst || needsBackup(await readLastRestore(ctx.store, plan.live));
  if (early) {
    await verifying;
    await secureKeptDatabase(ctx, op, jobs);
    await dropPrevious(ctx, op, plan);
  }
  let backupId: string | null = null;
  if (plan.backupFirst) {
    plan.progress({ phase: 'backup' });
    backupId = await backupLiveBeforeSwap(ctx, op, manifest, jobs);
  }
  // A spare restore's own work is a rename: its checks (no dump to read) are awaited here, and the
  // kept database becomes the discard on the operation's session, before the spare is taken.
  if (!early && plan.spare) {
    await verifying;
    await dropPrevious(ctx, op, plan);
  }
  const verified = early || plan.spare
    ? Promise.resolve()
    : verifying.then(
        () => dropPrevious(ctx, op, plan),
        (err: unknown) => {
          abort.abort();
          throw err;
        },
      );
  verified.catch(() => {}); // observed by stage(); avoids an unhandled rejection while pg_restore runs
  return { verified, abort, backupId, stopCancelling: () => ctx.signal?.removeEventListener('abort', onCancel) };
}

/**
 * The database the last restore replaced is kept for undo until this restore has a verified
 * snapshot to put in its place; dropping it early also keeps DROP DATABASE's checkpoint away
 * from the swap. A spare restore, whose own work is a rename, renames it to the discard instead
 * and leaves the drop, which grows with its size, to after the report (../discard.ts).
 */
async function dropPrevious(ctx: Context, op: Operation, plan: RestorePlan): Promise<void> {
  if (!plan.liveInfo) return;
  if (plan.spare) {
    await discardPrevious(ctx, op.maint, plan.previous);
    return;
  }
  // On a session of its own: this may run while the staging database is being made on maint.
  await withClient(ctx.maintenance, (client) => dropDatabase(client, plan.previous), 'nfr restore');
  // Should this restore fail from here on, status must not offer an undo that cannot work.
  const last = await readLastRestore(ctx.store, plan.live);
  if (last && !last.previous_dropped) await writeLastRestore(ctx.store, { ...last, previous_dropped: true });
}
