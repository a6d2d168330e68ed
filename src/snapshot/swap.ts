/**
 * The swap: the only moment a restore touches the live database.
 *
 * 1. journal the swap (so a kill here is repaired by the next operation);
 * 2. block new connections to the live database (datallowconn = false, committed);
 * 3. end its remaining sessions and wait until they are gone;
 * 4. in ONE transaction: live → temp name, incoming → live, temp → outgoing, open the new live,
 *    close the outgoing one. ALTER DATABASE ... RENAME is transactional, so at every instant the
 *    live name points at either the complete old database or the complete new one.
 *
 * Sessions that were ended get SQLSTATE 57P01 (admin_shutdown). Connection attempts during the
 * window get 55000 ("not currently accepting connections") or, if they race the rename commit,
 * 3D000 ("database does not exist"); both succeed on retry a moment later, so clients should
 * treat them as transient (src/errors.ts isConnectionFailure does).
 */
import type pg from 'pg';
import { NfrError, sqlState } from '../errors.js';
import { escapeIdentifier } from '../postgres/connection.js';
import { faultPoint } from '../util/fault.js';
import { databaseExists, derivedDatabaseName } from '../postgres/databases.js';
import { clearSwapJournal, writeSwapJournal } from './state.js';
import type { SnapshotStore } from '../runtime/context.js';

export interface SwapResult {
  /** How long the live database refused connections. */
  readonly blocked_ms: number;
  readonly sessions_ended: number;
}

const TERMINATE_WAIT_MS = 10_000;

/**
 * Makes `incoming` the live database and keeps the old live one as `outgoing` (which may be the
 * same name as incoming: that is an exchange, used by undo).
 */
export async function swapDatabases(
  maint: pg.ClientBase,
  store: SnapshotStore,
  names: { readonly live: string; readonly incoming: string; readonly outgoing: string },
): Promise<SwapResult> {
  const { live, incoming, outgoing } = names;
  const temp = derivedDatabaseName(live, 'swap');
  const liveExists = await databaseExists(maint, live);
  await writeSwapJournal(store, { database: live, incoming, outgoing, started_at: new Date().toISOString(), pid: process.pid });
  const t0 = performance.now();
  let sessionsEnded = 0;
  try {
    if (liveExists) {
      await maint.query(`alter database ${escapeIdentifier(live)} with allow_connections false`);
      await faultPoint('swap-blocked');
      sessionsEnded = await endSessions(maint, [live, incoming]);
    } else {
      sessionsEnded = await endSessions(maint, [incoming]);
    }
    await maint.query('begin');
    try {
      if (liveExists) await maint.query(`alter database ${escapeIdentifier(live)} rename to ${escapeIdentifier(temp)}`);
      await maint.query(`alter database ${escapeIdentifier(incoming)} rename to ${escapeIdentifier(live)}`);
      await maint.query(`alter database ${escapeIdentifier(live)} with allow_connections true`);
      if (liveExists) await maint.query(`alter database ${escapeIdentifier(temp)} rename to ${escapeIdentifier(outgoing)}`);
      await faultPoint('swap-uncommitted');
      await maint.query('commit');
    } catch (err) {
      await maint.query('rollback').catch(() => {});
      throw err;
    }
  } catch (err) {
    if (liveExists) {
      await maint.query(`alter database ${escapeIdentifier(live)} with allow_connections true`).catch(() => {});
    }
    await clearSwapJournal(store);
    if (sqlState(err) === '55006') {
      throw new NfrError('IN_USE', `could not swap "${live}": sessions kept reconnecting to it; the live database is unchanged`, { cause: err });
    }
    throw err;
  }
  const blocked = performance.now() - t0;
  await clearSwapJournal(store);
  return { blocked_ms: Math.round(blocked), sessions_ended: sessionsEnded };
}

/** Ends every other session of the given databases and waits until they have exited. */
async function endSessions(maint: pg.ClientBase, databases: readonly string[]): Promise<number> {
  const deadline = Date.now() + TERMINATE_WAIT_MS;
  const ended = new Set<number>();
  for (;;) {
    const r = await maint.query<{ pid: number; ok: boolean }>(
      'select pid, pg_terminate_backend(pid) as ok from pg_stat_activity where datname = any($1::text[]) and pid <> pg_backend_pid()',
      [databases],
    );
    if (r.rows.length === 0) return ended.size;
    for (const row of r.rows) if (row.ok) ended.add(row.pid);
    if (Date.now() > deadline) {
      throw new NfrError('IN_USE', `sessions of ${databases.join(', ')} did not end within ${TERMINATE_WAIT_MS / 1000} s (pids ${r.rows.map((row) => row.pid).join(', ')})`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
