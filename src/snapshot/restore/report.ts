/**
 * Step 6, report: what the restore means for the derived stores (is the vector index stale,
 * which stored files belong to uploads the database no longer knows) — or, with --resync, the
 * index brought in line — and the result the edges print. The restore itself has happened by
 * now, so a failure here says so.
 */
import { NfrError, toNfrError } from '../../errors.js';
import { withClient } from '../../postgres/connection.js';
import type { Context } from '../../runtime/context.js';
import { afterRestore, type AfterRestoreReport } from '../after-restore.js';
import type { BackupOutcome } from '../pre-restore-backup.js';
import type { SwapResult } from '../swap.js';
import type { RestorePlan } from './preflight.js';
import type { Staged } from './stage.js';

export interface RestoreResult {
  readonly snapshot_id: string;
  readonly database: string;
  /**
   * `warm copy`: cloned from the snapshot's warm template database instead of pg_restore;
   * `spare`: its ready spare (a clone made ahead of time) renamed into place.
   */
  readonly restored_from: 'archive' | 'warm copy' | 'spare';
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

export async function report(ctx: Context, plan: RestorePlan, staged: Staged, swap: SwapResult, backup: BackupOutcome): Promise<RestoreResult> {
  const { manifest, progress } = plan;
  const resync = plan.options.resync === true;
  progress({ phase: resync ? 'resyncing' : 'reporting' });
  // A spare's data is the snapshot's, unchanged since its signature was read (unless migrated here).
  const signature = plan.spare && !plan.schema.migrate ? plan.spare.index_signature : undefined;
  const after = await withClient(ctx.target, (client) => afterRestore(ctx, client, manifest, resync, signature), 'nfr restore report').catch((err: unknown) => {
    const e = toNfrError(err);
    throw new NfrError(e.code, `${manifest.id} was restored, but ${resync ? 'the index resync' : 'the post-restore report'} failed: ${e.message}`, { cause: err });
  });
  progress({ phase: 'completed', tables_done: manifest.tables.length, tables_total: manifest.tables.length });
  return {
    snapshot_id: manifest.id,
    database: plan.live,
    restored_from: plan.spare ? 'spare' : plan.warm ? 'warm copy' : 'archive',
    pre_restore_backup_id: backup.snapshot_id,
    pre_restore_backup_error: backup.error,
    previous_database: plan.liveInfo ? plan.previous : null,
    schema: { snapshot: manifest.database.schema_version, code: plan.schema.code, migrated: staged.migrated },
    pipeline_stage: manifest.database.pipeline_stage,
    tables_checked: manifest.tables.length,
    rows_restored: staged.rows,
    blocked_ms: swap.blocked_ms,
    sessions_ended: swap.sessions_ended,
    after_restore: after,
    duration_ms: Date.now() - plan.started,
  };
}
