/**
 * The frame every state-changing operation runs in (a snapshot, an ingestion, an index sync):
 * the operation lock, a maintenance session, and recovery of what a killed operation left.
 */
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { connect } from '../postgres/connection.js';
import { timing } from '../util/timing.js';
import { acquireOperationLock, type OperationKind, type OperationLock } from './lock.js';
import type { Context, RecoveryReport } from './context.js';

export interface Operation {
  readonly lock: OperationLock;
  /** Session on the maintenance database, for CREATE/DROP/RENAME DATABASE. */
  readonly maint: pg.Client;
  readonly recovery: RecoveryReport;
}

/** What long operations report while they run; the CLI draws it, the API stores it in job status. */
export interface Progress {
  readonly phase: string;
  readonly tables_done?: number;
  readonly tables_total?: number;
  readonly bytes?: number;
}

export type ProgressListener = (progress: Progress) => void;

/** Takes the lock, cleans up leftovers of killed operations, runs fn, and releases everything. */
export async function withOperation<T>(
  ctx: Context,
  kind: OperationKind,
  snapshotId: string | null,
  fn: (op: Operation) => Promise<T>,
  waitSeconds = ctx.config.lockWaitSeconds,
  waitsForSpare?: boolean,
): Promise<T> {
  // The maintenance session is opened while the lock is taken: two handshakes at once, not in turn.
  const session = connect(ctx.maintenance, `nfr ${kind}`);
  session.catch(() => {}); // awaited below, once the lock is ours
  let lock: OperationLock;
  try {
    lock = await acquireOperationLock(ctx, kind, snapshotId, waitSeconds, waitsForSpare);
  } catch (err) {
    await session.then((c) => c.end()).catch(() => {});
    throw err;
  }
  timing(`${kind}: lock taken`);
  try {
    const maint = await session;
    try {
      const recovery = await ctx.recover(ctx, maint);
      timing(`${kind}: leftovers recovered`);
      return await fn({ lock, maint, recovery });
    } finally {
      await maint.end().catch(() => {});
    }
  } finally {
    await lock.release();
  }
}

/** The same context, but its operations wait up to `seconds` for the lock (never less than configured). */
export function waitingForLock<C extends Context>(ctx: C, seconds: number): C {
  return { ...ctx, config: { ...ctx.config, lockWaitSeconds: Math.max(ctx.config.lockWaitSeconds, seconds) } };
}

/**
 * Repairs what a killed operation left, as an operation of its own ('recover'): the lock proves
 * nothing is running, so whatever is half-done is a leftover. Waits for the lock as long as the
 * context says (`nfr snapshot recover`); with `waitSeconds` 0 it gives up at once and returns
 * undefined when another operation holds the lock (its work in progress is not a leftover).
 */
export async function recoverNow(ctx: Context, waitSeconds = ctx.config.lockWaitSeconds): Promise<RecoveryReport | undefined> {
  try {
    return await withOperation(ctx, 'recover', null, async (op) => op.recovery, waitSeconds);
  } catch (err) {
    if (waitSeconds === 0 && err instanceof NfrError && err.code === 'LOCKED') return undefined;
    throw err;
  }
}
