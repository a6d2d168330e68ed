/**
 * Pooled sessions that survive the server ending them: request handlers (a restore swaps the live
 * database and ends its sessions) and the job queue (its control database restarts) both check
 * clients out through here.
 */
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
 * of the live database) is destroyed, not returned to the pool, and with `retry` fn runs once
 * more on a fresh connection — which reaches the swapped-in database. Only a read may be
 * retried: a transaction whose commit was lost in flight may have committed. If the database is
 * refusing connections at that instant, the error reaches the caller (a request answers 503).
 *
 * While checked out, a client has no listener of the pool's: a session ended between two of fn's
 * queries would raise an unhandled 'error' event and take the server down. The listener added
 * here keeps that error, and the client is destroyed on release.
 */
export async function withPoolClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>, retry = true): Promise<T> {
  const client = await pool.connect();
  let ended: Error | undefined;
  const onError = (err: Error) => {
    ended ??= err;
  };
  client.on('error', onError);
  const release = (err?: Error) => {
    client.off('error', onError);
    client.release(err ?? ended);
  };
  try {
    const result = await fn(client);
    release();
    return result;
  } catch (err) {
    const lost = ended !== undefined || isConnectionLoss(err);
    release(lost ? (err as Error) : undefined);
    if (lost && retry) return withPoolClient(pool, fn, false);
    throw err;
  }
}
