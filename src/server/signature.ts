/** PostgreSQL's data signature of the controls (see pgSignature), read on the server's pool. */
import type pg from 'pg';
import { pgSignature } from '../index/pg-source.js';
import { withPoolClient } from './db.js';

/** How long one reading is reused. */
const SIGNATURE_TTL_MS = 1000;

/**
 * Search and /health compare the index with PostgreSQL's signature, a scan of the control table:
 * on the pool, and at most once a second however many requests ask, instead of once per request.
 * A failed reading is not kept.
 */
export function cachedSignature(pool: pg.Pool): () => Promise<string> {
  let cached: { at: number; value: Promise<string> } | undefined;
  return () => {
    if (!cached || Date.now() - cached.at > SIGNATURE_TTL_MS) {
      const value = withPoolClient(pool, pgSignature);
      value.catch(() => (cached = undefined));
      cached = { at: Date.now(), value };
    }
    return cached.value;
  };
}
