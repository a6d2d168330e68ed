/** Status: who holds the operation lock, what is in progress, the last operation and restore. */
import { readdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { completedSnapshots } from './catalog.js';
import { lockState, type LockHolder } from '../runtime/lock.js';
import { tryRecover } from '../runtime/operation.js';
import type { RecoveryReport, Context } from '../runtime/context.js';
import { readEvents, readLastRestore, type LastRestore, type OperationEvent } from './state.js';
import { removeAbandonedParts } from '../ingest/incoming.js';
import { needsBackup } from './pre-restore-backup.js';
import { readWarmRegistry, type WarmCopy } from './warm-copies.js';
import { processAlive } from '../util/process.js';

export interface SnapshotStatus {
  readonly database: string;
  readonly backup_path: string;
  readonly lock: { readonly held: boolean; readonly holder: LockHolder | null; readonly holder_alive: boolean | null; readonly stale_lock_file: LockHolder | null };
  readonly in_progress: string[];
  readonly snapshots: { readonly count: number; readonly total_bytes: number; readonly latest: string | null };
  readonly last_operation: OperationEvent | null;
  /** undo_command is null when a later, failed restore already dropped what undo would bring back. */
  readonly last_restore: (LastRestore & { readonly undo_command: string | null }) | null;
  /** What this call repaired of a killed operation (null when an operation is running). */
  readonly recovered: RecoveryReport | null;
  /** Part files of uploads a killed server was receiving, removed by this call. */
  readonly removed_upload_parts: string[];
  /** Set when the last restore's pre-restore backup did not complete: what is kept instead. */
  readonly backup_missing: string | null;
  /** The warm copies of the live database's snapshots. */
  readonly warm: WarmCopy[];
}

export async function snapshotStatus(ctx: Context): Promise<SnapshotStatus> {
  const lock = await lockState(ctx);
  const recovered = lock.held ? null : ((await tryRecover(ctx)) ?? null);
  const abandonedUploads = await removeAbandonedParts(ctx.config.dataIngestedPath);
  const snapshots = await completedSnapshots(ctx.store);
  const events = await readEvents(ctx.store, 50);
  const lastRestore = await readLastRestore(ctx.store, ctx.target.database);
  const holder = lock.holder;
  return {
    database: ctx.target.database,
    backup_path: ctx.store.root,
    lock: {
      held: lock.held,
      holder,
      holder_alive: holder ? (holder.host === hostname() ? processAlive(holder.pid) : null) : null,
      stale_lock_file: lock.stale_file,
    },
    in_progress: lock.held ? await readdir(ctx.store.tmpDir).catch(() => []) : [],
    snapshots: {
      count: snapshots.length,
      total_bytes: snapshots.reduce((s, m) => s + m.total_bytes, 0),
      latest: snapshots[snapshots.length - 1]?.id ?? null,
    },
    last_operation: events[events.length - 1] ?? null,
    last_restore: lastRestore ? { ...lastRestore, undo_command: lastRestore.previous_dropped ? null : 'nfr snapshot restore --undo' } : null,
    recovered,
    removed_upload_parts: abandonedUploads,
    backup_missing:
      lastRestore && needsBackup(lastRestore)
        ? `the pre-restore backup of the restore of ${lastRestore.snapshot_id} ${lastRestore.backup?.status === 'failed' ? 'failed' : 'did not complete'}; the replaced database is kept as "${lastRestore.previous_database}" (undo works), and the next restore backs it up before dropping it`
        : null,
    warm: Object.values(await readWarmRegistry(ctx.store, ctx.target.database)),
  };
}

