/**
 * The database a restore replaces is kept for undo (`<db>__nfr_prev`) until the next restore.
 * That restore must get rid of it, and DROP DATABASE takes time that grows with its size (every
 * file unlinked, a checkpoint): on a spare restore, whose own work is a rename, the drop was most
 * of the command. So a spare restore renames it to `<db>__nfr_discard` instead (a catalog change,
 * instant whatever the size) and it is dropped off the critical path, after the command has
 * reported: by the detached preparer the CLI starts (its recovery drops it before it clones the
 * next spare), by a server's spare loop, or else by the next operation's recovery.
 *
 * Crash argument: the rename is one statement, so the kept database is either `prev` or
 * `discard`; a kill right after it leaves the last-restore record saying undo is possible while
 * nothing is left to undo with, which recovery corrects (markPreviousGone) as it drops the
 * discard. A discard is never used again, so a kill anywhere while it waits or is being dropped
 * leaves only a database the next operation drops. Dropping it is expected work, not a repair:
 * the event says so and recovery's report does not count it.
 */
import type pg from 'pg';
import { withClient } from '../postgres/connection.js';
import { databaseExists, databaseInfo, derivedDatabaseName, dropDatabase, renameUnusedDatabase } from '../postgres/databases.js';
import type { Context } from '../runtime/context.js';
import { faultPoint } from '../util/fault.js';
import { readLastRestore, recordEvent, writeLastRestore } from './state.js';

export function discardDatabaseName(live: string): string {
  return derivedDatabaseName(live, 'discard');
}

/**
 * Under the restore's lock, on its maintenance session: the kept database becomes the discard (an
 * earlier discard nobody dropped yet goes first), and the last-restore record says undo has
 * nothing left to put back.
 */
export async function discardPrevious(ctx: Context, maint: pg.ClientBase, previous: string): Promise<void> {
  const discard = discardDatabaseName(ctx.target.database);
  if (await databaseExists(maint, previous)) {
    await dropDatabase(maint, discard); // recovery at the start of this operation dropped it already, normally
    await renameUnusedDatabase(maint, previous, discard);
    await faultPoint('previous-discarded');
  }
  // Should this restore fail from here on, status must not offer an undo that cannot work.
  await markPreviousGone(ctx, maint);
}

/** The pending discard of the live database (its name and size), if there is one. */
export async function pendingDiscard(ctx: Context, maint: pg.ClientBase): Promise<{ database: string; size_bytes: number } | undefined> {
  const info = await databaseInfo(maint, discardDatabaseName(ctx.target.database)).catch(() => undefined);
  return info ? { database: info.name, size_bytes: info.sizeBytes } : undefined;
}

/** Whether the live database has a discard waiting (reads only; a server asks every few seconds). */
export async function discardWaiting(ctx: Context): Promise<boolean> {
  return withClient(ctx.maintenance, async (client) => databaseExists(client, discardDatabaseName(ctx.target.database)), 'nfr discard check');
}

/**
 * Under the operation lock: drops the live database's discard, if any, and records that as the
 * completion of the restore's own work. Returns its name (undefined when there was none).
 */
export async function dropDiscard(ctx: Context, maint: pg.ClientBase): Promise<string | undefined> {
  const discard = await pendingDiscard(ctx, maint);
  if (!discard) return undefined;
  const started = Date.now();
  await faultPoint('discard-dropping');
  await dropDatabase(maint, discard.database);
  await recordEvent(ctx.store, {
    operation: 'discard',
    status: 'completed',
    duration_ms: Date.now() - started,
    details: {
      database: discard.database,
      size_bytes: discard.size_bytes,
      note: 'dropped the database the last restore replaced (kept for undo until then), after that restore had reported',
    },
  });
  return discard.database;
}

/** The last-restore record stops offering undo once the database it would put back is gone. */
export async function markPreviousGone(ctx: Context, maint: pg.ClientBase): Promise<void> {
  const last = await readLastRestore(ctx.store, ctx.target.database);
  if (!last || last.previous_dropped) return;
  if (!(await databaseExists(maint, last.previous_database))) await writeLastRestore(ctx.store, { ...last, previous_dropped: true });
}
