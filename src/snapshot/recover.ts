/**
 * Cleans up after operations that were killed. Runs at the start of every locked operation:
 * holding the lock proves no other operation is alive, so whatever is half-done is a leftover.
 */
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { escapeIdentifier, TOOL_APPLICATION_NAME } from '../postgres/connection.js';
import { databaseInfo, derivedDatabaseName, derivedDatabases, dropDatabase } from '../postgres/databases.js';
import { describeDiscarded, describeDiscardFailure, discardStaged, stagedLeftovers } from './full-files.js';
import { clearSwapJournal, readSwapJournal, recordEvent, trimEvents } from './state.js';
import type { Context, RecoveryReport } from '../runtime/context.js';
import { recoverWarmLeftovers, warmLeftovers } from './warm-copies.js';
import { dropDiscard, markPreviousGone } from './discard.js';

/** What recoverLeftovers repairs: the snapshot stage's part of a recovery report. */
export type SnapshotRecovery = Pick<RecoveryReport, 'removed_temp_dirs' | 'dropped_databases' | 'reopened_database' | 'dropped_collections' | 'completed_index_switch'>;

/** Roles of derived databases that only exist while an operation runs. */
const TRANSIENT_ROLES = new Set(['staging', 'verify', 'swap', 'warming', 'diff', 'diffto', 'sparing']);

/**
 * What a killed operation left that recoverLeftovers would repair, described for people; reads
 * only (status shows it, and servers ask it before taking the lock to repair). While an
 * operation runs its own work in progress shows here too: only the lock tells the two apart.
 */
export async function snapshotLeftovers(ctx: Context, maint: pg.ClientBase): Promise<string[]> {
  const found: string[] = [];
  for (const name of await readdir(ctx.store.tmpDir).catch(() => [] as string[])) found.push(`temporary directory .tmp/${name}`);
  for (const name of await readdir(ctx.store.trashDir).catch(() => [] as string[])) found.push(`deleted snapshot .trash/${name}`);
  const journal = await readSwapJournal(ctx.store);
  if (journal) {
    const live = await databaseInfo(maint, journal.database);
    found.push(`an unfinished swap of ${journal.database}${live && !live.allowConnections ? ' (it refuses connections)' : ''}`);
  }
  for (const db of await derivedDatabases(maint, ctx.target.database)) if (TRANSIENT_ROLES.has(db.role)) found.push(`database ${db.name}`);
  const warm = await warmLeftovers(ctx, maint);
  for (const name of warm.unrecorded) found.push(`unrecorded warm copy ${name}`);
  for (const name of warm.stale) found.push(`record of the gone warm copy ${name}`);
  for (const name of warm.unrecordedSpares) found.push(`unrecorded spare ${name}`);
  for (const name of warm.staleSpares) found.push(`record of the gone spare ${name}`);
  for (const p of await stagedLeftovers(ctx)) found.push(`staged restore files ${p}`);
  return found;
}

/** Call only while holding the operation lock. `maint` is a client on the maintenance database. */
export async function recoverLeftovers(ctx: Context, maint: pg.ClientBase): Promise<SnapshotRecovery> {
  // pg_dump/pg_restore of a killed nfr can outlive it; end their sessions before removing files
  // or databases they may still be writing to.
  const live = ctx.target.database;
  await maint.query(
    'select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and datname = any($2::text[]) and pid <> pg_backend_pid()',
    [TOOL_APPLICATION_NAME, [live, derivedDatabaseName(live, 'staging'), derivedDatabaseName(live, 'verify'), derivedDatabaseName(live, 'warming'), derivedDatabaseName(live, 'diff'), derivedDatabaseName(live, 'diffto'), derivedDatabaseName(live, 'sparing')]],
  );

  const removed: string[] = [];
  for (const name of await readdir(ctx.store.tmpDir).catch(() => [] as string[])) {
    await rm(path.join(ctx.store.tmpDir, name), { recursive: true, force: true });
    removed.push(name);
    await recordEvent(ctx.store, { operation: 'create', status: 'interrupted', snapshot_id: name, error: 'a create was interrupted; its partial files were removed' });
  }
  // An index server may be unreachable; that must not stop operations that do not need it. Its
  // journal stays, so the next operation (or the next restore, which needs the index) tries again.
  const staged = await discardStaged(ctx).catch(async (err: unknown) => {
    await recordEvent(ctx.store, { operation: 'restore', status: 'failed', error: describeDiscardFailure(ctx, err) });
    return { dropped_collections: [], completed_index_switch: false };
  });
  const discarded = describeDiscarded(ctx, staged);
  if (discarded) await recordEvent(ctx.store, { operation: 'restore', status: 'interrupted', error: discarded });
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
    if (TRANSIENT_ROLES.has(db.role)) {
      await dropDatabase(maint, db.name);
      dropped.push(db.name);
    }
  }
  // A warm killed after its copy got the warm name but before it was recorded is not warm.
  dropped.push(...(await recoverWarmLeftovers(ctx, maint)));
  if (dropped.length > 0) {
    await recordEvent(ctx.store, { operation: 'restore', status: 'interrupted', error: `dropped leftover databases of an interrupted operation: ${dropped.join(', ')}` });
  }
  // The database a spare restore replaced, when nobody has dropped it since: expected work left
  // for after that restore's report, not a repair, so recorded as such and not reported.
  await dropDiscard(ctx, maint);
  // A restore killed right after discarding the kept database left a record offering undo.
  await markPreviousGone(ctx, maint);
  await trimEvents(ctx.store);
  return {
    removed_temp_dirs: removed,
    dropped_databases: dropped,
    reopened_database: reopened,
    dropped_collections: staged.dropped_collections,
    completed_index_switch: staged.completed_index_switch,
  };
}
