/** Database access for request handlers, resilient to a restore swapping the live database. */
import type pg from 'pg';
import { isConnectionFailure, sqlState } from '../errors.js';

function isConnectionLoss(err: unknown): boolean {
  const code = sqlState(err);
  if (code !== undefined) return isConnectionFailure(code);
  const message = err instanceof Error ? err.message : '';
  return /Connection terminated|connection is closed|Client has encountered a connection error/i.test(message);
}

/**
 * Runs fn with a pooled client. A client whose session was ended (a restore ends every session
 * of the live database) is destroyed, not returned to the pool, and a read is retried once on a
 * fresh connection — which reaches the swapped-in database. If the database is refusing
 * connections at that instant, the error reaches the error handler, which answers 503.
 */
export async function withPoolClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, retry = true): Promise<T> {
  const client = await pool.connect();
  try {
    const result = await fn(client);
    client.release();
    return result;
  } catch (err) {
    const lost = isConnectionLoss(err);
    client.release(lost ? (err as Error) : undefined);
    if (lost && retry) return withPoolClient(pool, fn, false);
    throw err;
  }
}
