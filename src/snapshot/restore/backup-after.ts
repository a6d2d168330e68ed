/**
 * Step 5, backup after: a database-only restore's pre-restore backup is dumped from the replaced
 * database after the swap, off the critical path (nobody writes to it, and the live database is
 * already back). A failure or a kill leaves the restore standing, the record `pending`/`failed`,
 * and the kept database in place until the next restore backs it up (../pre-restore-backup.ts).
 */
import type { Context } from '../../runtime/context.js';
import type { Operation } from '../../runtime/operation.js';
import { backupReplacedDatabase, type BackupOutcome } from '../pre-restore-backup.js';
import type { RestorePlan } from './preflight.js';
import type { Verification } from './verify.js';

export async function backupAfter(ctx: Context, op: Operation, plan: RestorePlan, verification: Verification): Promise<BackupOutcome> {
  if (!plan.takeBackup || plan.backupFirst) return { snapshot_id: verification.backupId, error: null };
  plan.progress({ phase: 'backup-after-swap' });
  return backupReplacedDatabase(ctx, op, plan.previous, plan.manifest.id, plan.jobs);
}
