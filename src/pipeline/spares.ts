/**
 * Every `nfr serve` keeps the spares of its live database's warm snapshots ready: every few
 * seconds it looks (in the records only) for a warm snapshot without its spare — a restore took
 * it, a preparer was killed, NFR_WARM_MAX had no room that it has now — and makes it, but only
 * while the operation lock is free, never waiting for it. So after a restore (API or CLI) the
 * next spare appears with nobody acting; what a killed preparer left is the periodic recovery's.
 * The same loop drops the database a spare restore replaced (`<db>__nfr_discard`), off that
 * restore's critical path; it runs with spares off too, so a discard never waits for an operation.
 */
import type { Context } from '../runtime/context.js';
import { prepareNeededSpares } from '../snapshot/spare.js';
import { every } from '../util/every.js';

export function startSparePreparation(ctx: Context, intervalSeconds: number, log: (message: string) => void): { stop(): Promise<void> } {
  if (intervalSeconds <= 0) return { stop: async () => {} };
  let lastError = '';
  return every(
    intervalSeconds,
    async () => {
      const prepared = await prepareNeededSpares(ctx);
      if (prepared.length > 0) log(`prepared the spare${prepared.length === 1 ? '' : 's'} ${prepared.map((s) => s.database).join(', ')}`);
      lastError = '';
    },
    (err) => {
      // Said once per distinct problem: a database server that is down fails every pass.
      const message = (err as Error).message;
      if (message !== lastError) log(`preparing a spare failed: ${message}`);
      lastError = message;
    },
  );
}
