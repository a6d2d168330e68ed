/**
 * Status: who holds the operation lock, what is in progress, the last operation and restore, and
 * what a dead operation left. It only reads: repairs are recovery's (pipeline/recover.ts), which
 * runs at the start of every operation, in every server, and as `nfr snapshot recover`.
 */
import { readdir, statfs } from 'node:fs/promises';
import { hostname } from 'node:os';
import { completedSnapshots } from './catalog.js';
import { lockState } from '../runtime/lock.js';
import type { Context } from '../runtime/context.js';
import { connect } from '../postgres/connection.js';
import { readEvents, readLastRestore, type LastRestore } from './state.js';
import { snapshotLeftovers } from './recover.js';
import { needsBackup } from './pre-restore-backup.js';
import { readWarmRegistry } from './warm-copies.js';
import { processAlive } from '../util/process.js';
import type { z } from 'zod';
import type { snapshotStatusSchema } from './shapes.js';

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type SnapshotStatus = z.infer<typeof snapshotStatusSchema>;

/** Below this, an operation cannot even write its lock file and state: the volume is full. */
const FULL_BELOW_BYTES = 64 * 1024;

export async function snapshotStatus(ctx: Context): Promise<SnapshotStatus> {
  const lock = await lockState(ctx);
  const leftovers = lock.held ? [] : await pendingLeftovers(ctx);
  const snapshots = await completedSnapshots(ctx.store);
  const events = await readEvents(ctx.store, 50);
  const lastRestore = await readLastRestore(ctx.store, ctx.target.database);
  const holder = lock.holder;
  const fs = await statfs(ctx.store.root);
  const free = fs.bavail * fs.bsize;
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
    last_restore: lastRestore ? { ...lastRestore, undo_command: lastRestore.previous_dropped ? null : 'nfr snapshot restore --undo', no_undo_reason: noUndoReason(lastRestore) } : null,
    leftovers,
    backup_missing:
      lastRestore && needsBackup(lastRestore)
        ? `the pre-restore backup of the restore of ${lastRestore.snapshot_id} ${lastRestore.backup?.status === 'failed' ? 'failed' : 'did not complete'}; the replaced database is kept as "${lastRestore.previous_database}" (undo works), and the next restore backs it up before dropping it`
        : null,
    warm: Object.values(await readWarmRegistry(ctx.store, ctx.target.database)),
    backup_volume: { free_bytes: free, full: free < FULL_BELOW_BYTES },
  };
}

async function pendingLeftovers(ctx: Context): Promise<string[]> {
  const maint = await connect(ctx.maintenance, 'nfr status');
  try {
    return await snapshotLeftovers(ctx, maint);
  } finally {
    await maint.end().catch(() => {});
  }
}

/** Why undo cannot work, and what is left of the state before that restore; null when it can. */
function noUndoReason(last: LastRestore): string | null {
  if (!last.previous_dropped) return null;
  const base = `a later restore that did not finish dropped the database that undo would bring back`;
  return last.backup?.status === 'completed' && last.backup.snapshot_id
    ? `${base}; restore the pre-restore backup ${last.backup.snapshot_id} instead`
    : `${base}, and that restore of ${last.snapshot_id} took no pre-restore backup (--skip-backup): the state before it is not kept anywhere`;
}
