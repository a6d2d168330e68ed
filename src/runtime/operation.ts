/**
 * The frame every state-changing operation runs in (a snapshot, an ingestion, an index sync):
 * the operation lock, a maintenance session, and recovery of what a killed operation left.
 */
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { connect } from '../postgres/connection.js';
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
): Promise<T> {
  const lock = await acquireOperationLock(ctx, kind, snapshotId, waitSeconds);
  try {
    const maint = await connect(ctx.maintenance, `nfr ${kind}`);
    try {
      const recovery = await ctx.recover(ctx, maint);
      return await fn({ lock, maint, recovery });
    } finally {
      await maint.end().catch(() => {});
    }
  } finally {
    await lock.release();
  }
}

/**
 * Repairs what a killed operation left (a blocked live database, staging databases, temp dirs)
 * if no operation is running right now; read-only commands call it so nobody has to clean up by
 * hand. Returns undefined when another operation holds the lock (its leftovers are not leftovers).
 */
/** The same context, but its operations wait up to `seconds` for the lock (never less than configured). */
export function waitingForLock<C extends Context>(ctx: C, seconds: number): C {
  return { ...ctx, config: { ...ctx.config, lockWaitSeconds: Math.max(ctx.config.lockWaitSeconds, seconds) } };
}

export async function tryRecover(ctx: Context): Promise<RecoveryReport | undefined> {
  try {
    return await withOperation(ctx, 'recover', null, async (op) => op.recovery, 0);
  } catch (err) {
    if (err instanceof NfrError && err.code === 'LOCKED') return undefined;
    throw err;
  }
}
