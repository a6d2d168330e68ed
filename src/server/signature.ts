/** PostgreSQL's data signature of the controls (see pgSignature), read on the server's pool. */
import type pg from 'pg';
import { pgSignature } from '../index/pg-source.js';
import { withPoolClient } from '../postgres/pool.js';

/** A reading is used for this long after it started. */
const SIGNATURE_TTL_MS = 1000;

/**
 * Search and /health compare the index with PostgreSQL's signature, a scan of the control table
 * (tens of milliseconds at 100,000 controls): on the pool, and at most once a second however many
 * requests ask, instead of once per request. Every answer was read at most a second before; while
 * requests keep coming, the next reading is taken once the current one is half that old, so no
 * request waits for the scan. A failed reading is not kept: the request that needed it gets the
 * error.
 */
export function cachedSignature(pool: pg.Pool): () => Promise<string> {
  let last: { at: number; value: string } | undefined;
  let reading: Promise<string> | undefined;
  const read = (): Promise<string> => {
    if (!reading) {
      const at = Date.now();
      reading = withPoolClient(pool, pgSignature)
        .then((value) => {
          if (!last || at >= last.at) last = { at, value };
          return value;
        })
        .finally(() => (reading = undefined));
    }
    return reading;
  };
  return () => {
    const age = last ? Date.now() - last.at : Infinity;
    if (last && age <= SIGNATURE_TTL_MS) {
      if (age > SIGNATURE_TTL_MS / 2) read().catch(() => {});
      return Promise.resolve(last.value);
    }
    return read();
  };
}
