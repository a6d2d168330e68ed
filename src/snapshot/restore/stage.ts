/**
 * Step 3, stage: the snapshot is made whole under a name nobody uses — its ready spare renamed, a
 * clone of its warm copy, or pg_restore -j into `<live>__nfr_staging` — then its row counts are checked against the
 * manifest and, when forced, it is migrated to the code's schema. A full snapshot's index and
 * files are copied next to their live directories. Nothing here touches the live database, so a
 * failure (or a kill) leaves it as it was; the next operation drops the staging leftovers.
 */
import path from 'node:path';
import { withDatabase } from '../../postgres/connection.js';
import { cloneDatabase, createDatabaseLike, dropDatabase } from '../../postgres/databases.js';
import { migrateToHead } from '../../postgres/migrate.js';
import type { Context } from '../../runtime/context.js';
import type { Operation } from '../../runtime/operation.js';
import { throwIfCancelled } from '../../runtime/cancel.js';
import { faultPoint } from '../../util/fault.js';
import { discardStaged, stageFiles, type StagedFiles } from '../full-files.js';
import { checkRowCounts, restoreArchive } from '../restore-archive.js';
import { takeSpare } from '../spare.js';
import { DUMP_DIR } from '../store.js';
import type { RestorePlan } from './preflight.js';
import type { Verification } from './verify.js';

export interface Staged {
  readonly rows: number;
  readonly migrated: string[];
  /** A full snapshot's index and files, ready to be put in place by rename. */
  readonly files: StagedFiles | null;
}

export async function stage(ctx: Context, op: Operation, plan: RestorePlan, verification: Verification): Promise<Staged> {
  const { manifest, progress, jobs, staging } = plan;
  try {
    await dropDatabase(op.maint, staging);
    const stagingTarget = withDatabase(ctx.target, staging);
    try {
      if (plan.spare) {
        // The spare was cloned and its row counts checked ahead of time: a rename, whatever the size.
        progress({ phase: 'cloning', tables_done: 0, tables_total: manifest.tables.length, bytes: plan.spare.size_bytes });
        await takeSpare(ctx, op.maint, manifest.id, plan.spare, staging);
      } else if (plan.warm) {
        progress({ phase: 'cloning', tables_done: 0, tables_total: manifest.tables.length, bytes: plan.warm.size_bytes });
        await cloneDatabase(op.maint, staging, plan.warm.database);
      } else {
        await createDatabaseLike(op.maint, staging, plan.liveInfo ?? manifest.database);
        await restoreArchive(op.maint, plan.pgRestore as string, stagingTarget, path.join(plan.dir, DUMP_DIR), manifest, jobs, progress, verification.abort.signal);
      }
    } catch (err) {
      await verification.verified; // a checksum failure explains an aborted pg_restore better than the abort
      throw err;
    }
    await verification.verified;
    throwIfCancelled(ctx, 'after restoring into the staging database, before the swap');
    await faultPoint('restored');
    progress({ phase: 'checking', tables_done: 0, tables_total: manifest.tables.length });
    const rows = plan.spare ? plan.spare.rows : await checkRowCounts(stagingTarget, manifest, jobs);
    const migrated = plan.schema.migrate ? (progress({ phase: 'migrating' }), await migrateToHead(stagingTarget)) : [];

    // The index and ingested files of a full snapshot are copied next to their live
    // directories (an index server's: uploaded into a new collection) now, and put in place by
    // rename (an index server's: one switch) right after the database swap.
    const files = plan.full ? await stageFiles(ctx, plan.dir, manifest) : null;
    await faultPoint('files-staged');
    return { rows, migrated, files };
  } catch (err) {
    await discardStaging(ctx, op, plan, verification);
    throw err;
  }
}

/** Drops what staging made, when the restore stops before its swap: the live database is as it was. */
export async function discardStaging(ctx: Context, op: Operation, plan: RestorePlan, verification: Verification): Promise<void> {
  verification.stopCancelling();
  await discardStaged(ctx).catch(() => {});
  verification.abort.abort();
  await verification.verified.catch(() => {});
  await dropDatabase(op.maint, plan.staging).catch(() => {});
}
