/**
 * Cooperative cancellation: a job someone cancelled (`nfr job cancel`) stops at the next safe
 * point its work reaches — a place where stopping leaves nothing half-done: before a create's
 * directory is renamed into the catalog, before a restore's swap, before an ingestion commits.
 * Past its last safe point the work completes.
 */
import { NfrError } from '../errors.js';
import type { Context } from './context.js';

/** Throws CANCELLED when the context's job was cancelled; `where` names the safe point. */
export function throwIfCancelled(ctx: Pick<Context, 'signal'>, where: string): void {
  const signal = ctx.signal;
  if (!signal?.aborted) return;
  const reason: unknown = signal.reason;
  const by = reason instanceof Error ? reason.message : 'cancelled';
  throw new NfrError('CANCELLED', `${by} (stopped ${where}; nothing of it was kept)`);
}
