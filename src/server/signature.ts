/** PostgreSQL's data signature of the controls (see pgSignature), read on the server's pool. */
import type pg from 'pg';
import { pgSignatureVisibility, pgVisibility } from '../index/pg-source.js';
import { withPoolClient } from '../postgres/pool.js';

/** A reading is used for this long after it started (a negative ttlMs: never; tests). */
const SIGNATURE_TTL_MS = 1000;

/**
 * Search and /health compare the index with PostgreSQL's signature, a scan of the control table
 * (tens of milliseconds at 20,000 controls, more on a loaded machine): on the pool, and at most
 * once a second however many requests ask, instead of once per request. Every answer was read at
 * most a second before; while requests keep coming, the next reading is taken once the current
 * one is half that old, so no request waits for it. A reading first asks whether anything became
 * visible since the last one (pgVisibility, constant time) and scans only when something may
 * have: a server searched without writes between does not scan the catalogue every second. A
 * failed reading is not kept: the request that needed it gets the error.
 */
export function cachedSignature(pool: pg.Pool, ttlMs = SIGNATURE_TTL_MS): () => Promise<string> {
  let last: { at: number; value: string; visibility: string } | undefined;
  let reading: Promise<string> | undefined;
  const read = (): Promise<string> => {
    if (!reading) {
      const at = Date.now();
      const known = last;
      reading = withPoolClient(pool, async (client) => {
        if (known && (await pgVisibility(client)) === known.visibility) return { signature: known.value, visibility: known.visibility };
        return pgSignatureVisibility(client);
      })
        .then(({ signature, visibility }) => {
          if (!last || at >= last.at) last = { at, value: signature, visibility };
          return signature;
        })
        .finally(() => (reading = undefined));
    }
    return reading;
  };
  return () => {
    const age = last ? Date.now() - last.at : Infinity;
    if (last && age <= ttlMs) {
      if (age > ttlMs / 2) read().catch(() => {});
      return Promise.resolve(last.value);
    }
    return read();
  };
}
