/**
 * Every `nfr serve` checks the checksums of completed snapshots in the background, so a snapshot
 * that rotted on disk is found (event log, health, retention) without anyone asking: each one is
 * checked again once its last check is NFR_VERIFY_INTERVAL old. Checking only reads files, so it
 * takes no lock and never holds up an operation (snapshot/verifications.ts).
 */
import type { Context } from '../runtime/context.js';
import { verifyDueSnapshots } from '../snapshot/verifications.js';

/** How often a server looks for snapshots due a check (at most a minute, at least a second). */
function tickSeconds(intervalSeconds: number): number {
  return Math.max(1, Math.min(60, intervalSeconds));
}

export function startBackgroundVerify(ctx: Context, intervalSeconds: number, log: (message: string) => void): { stop(): Promise<void> } {
  if (intervalSeconds <= 0) return { stop: async () => {} };
  let running: Promise<void> | undefined;
  let lastError = '';
  const stopping = new AbortController();
  const tick = async () => {
    try {
      for (const r of await verifyDueSnapshots(ctx, intervalSeconds, Date.now(), stopping.signal)) {
        if (!r.ok) log(`snapshot ${r.snapshot_id} failed verification: ${r.problems.slice(0, 3).join('; ')}`);
      }
      lastError = '';
    } catch (err) {
      const message = (err as Error).message;
      if (message !== lastError) log(`background verification failed: ${message}`);
      lastError = message;
    }
  };
  const timer = setInterval(() => {
    running ??= tick().finally(() => (running = undefined));
  }, tickSeconds(intervalSeconds) * 1000);
  timer.unref();
  return {
    async stop() {
      // A check in progress ends after the snapshot it is reading (it keeps nothing half-done);
      // shutdown does not wait longer than a moment for that.
      clearInterval(timer);
      stopping.abort();
      await Promise.race([running, new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    },
  };
}
