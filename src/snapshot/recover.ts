/**
 * Cleans up after operations that were killed. Runs at the start of every locked operation:
 * holding the lock proves no other operation is alive, so whatever is half-done is a leftover.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { messageOf } from '../errors.js';
import { escapeIdentifier, TOOL_APPLICATION_NAME } from '../postgres/connection.js';
import { databaseInfo, derivedDatabaseName, derivedDatabases, dropDatabase } from '../postgres/databases.js';
import { discardStaged } from './full-files.js';
import { clearSwapJournal, readSwapJournal, recordEvent, trimEvents } from './state.js';
import type { Context, RecoveryReport } from '../runtime/context.js';
import { recoverWarmLeftovers } from './warm-copies.js';

/** Call only while holding the operation lock. `maint` is a client on the maintenance database. */
export async function recoverLeftovers(ctx: Context, maint: pg.ClientBase): Promise<RecoveryReport> {
  // pg_dump/pg_restore of a killed nfr can outlive it; end their sessions before removing files
  // or databases they may still be writing to.
  const live = ctx.target.database;
  await maint.query(
    'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and datname = any($2::text[]) and pid <> pg_backend_pid()',
    [TOOL_APPLICATION_NAME, [live, derivedDatabaseName(live, 'staging'), derivedDatabaseName(live, 'verify'), derivedDatabaseName(live, 'warming'), derivedDatabaseName(live, 'diff'), derivedDatabaseName(live, 'diffto')]],
  );

  const removed: string[] = [];
  for (const name of await readdir(ctx.store.tmpDir).catch(() => [] as string[])) {
    await rm(path.join(ctx.store.tmpDir, name), { recursive: true, force: true });
    removed.push(name);
    await recordEvent(ctx.store, { operation: 'create', status: 'interrupted', snapshot_id: name, error: 'a create was interrupted; its partial files were removed' });
  }
  // Qdrant may be unreachable; that must not stop operations that do not need it. The journal
  // stays, so the next operation (or the next restore, which needs Qdrant) tries again.
  const staged = await discardStaged(ctx).catch(async (err: unknown) => {
    await recordEvent(ctx.store, { operation: 'restore', status: 'failed', error: `could not clean up the Qdrant collections of an unfinished restore: ${messageOf(err)}` });
    return { dropped_collections: [], completed_index_switch: false };
  });
  if (staged.dropped_collections.length > 0 || staged.completed_index_switch) {
    await recordEvent(ctx.store, {
      operation: 'restore',
      status: 'interrupted',
      error: staged.completed_index_switch
        ? 'a full restore was interrupted after its database swap; its Qdrant collection was made live'
        : `a full restore was interrupted before its database swap; its Qdrant collections were deleted: ${staged.dropped_collections.join(', ')}`,
    });
  }
  for (const name of await readdir(ctx.store.trashDir).catch(() => [] as string[])) {
    await rm(path.join(ctx.store.trashDir, name), { recursive: true, force: true });
  }

  // A swap killed between blocking connections and committing the renames leaves the live
  // database refusing connections; the renames themselves are one transaction, so nothing else.
  let reopened = false;
  const journal = await readSwapJournal(ctx.store);
  if (journal) {
    const live = await databaseInfo(maint, journal.database);
    if (live && !live.allowConnections) {
      await maint.query(`alter database ${escapeIdentifier(journal.database)} with allow_connections true`);
      reopened = true;
    }
    await clearSwapJournal(ctx.store);
    await recordEvent(ctx.store, { operation: 'restore', status: 'interrupted', error: `a database swap of ${journal.database} was interrupted before it committed; the live database was left as it was` });
  }

  const dropped: string[] = [];
  for (const db of await derivedDatabases(maint, live)) {
    if (db.role === 'staging' || db.role === 'verify' || db.role === 'swap' || db.role === 'warming' || db.role === 'diff' || db.role === 'diffto') {
      await dropDatabase(maint, db.name);
      dropped.push(db.name);
    }
  }
  // A warm killed after its copy got the warm name but before it was recorded is not warm.
  dropped.push(...(await recoverWarmLeftovers(ctx, maint)));
  if (dropped.length > 0) {
    await recordEvent(ctx.store, { operation: 'restore', status: 'interrupted', error: `dropped leftover databases of an interrupted operation: ${dropped.join(', ')}` });
  }
  await trimEvents(ctx.store);
  return {
    removed_temp_dirs: removed,
    dropped_databases: dropped,
    reopened_database: reopened,
    dropped_collections: staged.dropped_collections,
    completed_index_switch: staged.completed_index_switch,
  };
}
