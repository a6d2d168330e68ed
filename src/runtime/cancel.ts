/**
 * Cooperative cancellation: a job someone cancelled (`nfr job cancel`) stops at the next safe
 * point its work reaches — a place where stopping leaves nothing half-done: before a create's
 * directory is renamed into the catalog, before a restore's swap, before an ingestion commits.
 * Past its last safe point the work completes.
 */
import { NfrError } from '../errors.js';

/**
 * Runs the work's commit, its last safe point, only if the job was not cancelled, ordered against
 * cancel requests: the job runner's gate checks the job's cancel flag under its row lock and keeps
 * the lock until the commit is done and recorded, so a cancel either comes before (nothing
 * committed, the job ends cancelled) or after (committed, the job completes and says the cancel
 * came too late), never in between. Rejects with CANCELLED naming who cancelled.
 */
export type CommitGate = (where: string, commit: () => Promise<void>) => Promise<void>;

/** The commit of a job's batch through its gate (runtime-free callers, the CLI, just commit). */
export async function commitUnlessCancelled(ctx: { readonly signal?: AbortSignal | undefined; readonly commitGate?: CommitGate | undefined }, where: string, commit: () => Promise<void>): Promise<void> {
  throwIfCancelled(ctx, where);
  if (ctx.commitGate) await ctx.commitGate(where, commit);
  else await commit();
}

/** Throws CANCELLED when the context's job was cancelled; `where` names the safe point. */
export function throwIfCancelled(ctx: { readonly signal?: AbortSignal | undefined }, where: string): void {
  const signal = ctx.signal;
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  const by = reason instanceof Error ? reason.message : 'cancelled';
  throw new NfrError('CANCELLED', `${by} (stopped ${where}; nothing of it was kept)`);
}
