/**
 * Spares: a warm snapshot keeps a ready clone of its copy (`<db>__nfr_spare_<YYYY>_<NNNN>`, row
 * counts checked, connections refused so nothing changes it), and a restore of that snapshot
 * renames the spare into the staging name instead of copying a file: the live database switches
 * in the time of the swap, whatever its size. The next spare is made after the restore has
 * reported, off its critical path: by a detached `nfr snapshot spare` the CLI starts as it exits,
 * and by every server's background loop (prepareNeededSpares), whichever takes the lock first.
 *
 * Crash argument: a spare is made under a scratch name (`<db>__nfr_sparing`), checked, and only
 * then renamed to its spare name and recorded; the record is what makes it usable. A kill before
 * the rename leaves a `sparing` database (dropped by the next operation), a kill between rename
 * and record a spare nobody recorded (dropped), and a restore killed after taking the spare a
 * staging database (dropped) and a record whose database is gone (cleared). Call everything here
 * under the operation lock.
 */
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { escapeIdentifier, withClient, withDatabase } from '../postgres/connection.js';
import { cloneDatabase, databaseInfo, derivedDatabaseName, dropDatabase } from '../postgres/databases.js';
import type { Context } from '../runtime/context.js';
import { withOperation } from '../runtime/operation.js';
import { faultPoint } from '../util/fault.js';
import type { SnapshotId } from './ids.js';
import { checkRowCounts } from './restore-archive.js';
import { indexSignature } from './after-restore.js';
import { discardWaiting } from './discard.js';
import { recordEvent } from './state.js';
import { loadSnapshot } from './verify.js';
import { readWarmRegistry, updateWarmRegistry, usableWarmCopy, warmDatabaseName, type SpareCopy, type WarmRegistry } from './warm-copies.js';

/** The snapshot's recorded spare, if its database exists. */
export async function usableSpare(ctx: Context, maint: pg.ClientBase, id: string): Promise<SpareCopy | undefined> {
  if (!ctx.config.warmSpare) return undefined;
  const spare = (await readWarmRegistry(ctx.store, ctx.target.database))[id]?.spare;
  if (!spare) return undefined;
  const r = await maint.query('select 1 from pg_database where datname = $1 and not datistemplate', [spare.database]);
  return r.rowCount ? spare : undefined;
}

/**
 * Renames the spare to `staging` and opens it to connections, in one transaction; the record
 * follows (a kill in between leaves a record without its database, which reads as no spare).
 */
export async function takeSpare(ctx: Context, maint: pg.ClientBase, id: string, spare: SpareCopy, staging: string): Promise<void> {
  await dropDatabase(maint, staging);
  await maint.query('begin');
  try {
    await maint.query(`alter database ${escapeIdentifier(spare.database)} rename to ${escapeIdentifier(staging)}`);
    await maint.query(`alter database ${escapeIdentifier(staging)} with allow_connections true`);
    await maint.query('commit');
  } catch (err) {
    await maint.query('rollback').catch(() => {});
    throw err;
  }
  await faultPoint('spare-taken');
  await updateWarmRegistry(ctx.store, ctx.target.database, (r) => (r[id] ? { ...r, [id]: { ...r[id], spare: null } } : r));
}

export type SpareOutcome = { readonly status: 'prepared'; readonly spare: SpareCopy } | { readonly status: 'skipped'; readonly reason: string };

/** Units NFR_WARM_MAX counts: every copy and every spare, except those of pinned snapshots. */
export async function warmUnits(ctx: Context, registry: WarmRegistry): Promise<number> {
  let units = 0;
  for (const copy of Object.values(registry)) {
    const pinned = await loadSnapshot(ctx.store, copy.snapshot_id as SnapshotId).then(
      (s) => s.manifest.tags.includes('pinned'),
      () => false,
    );
    if (!pinned) units += copy.spare ? 2 : 1;
  }
  return units;
}

/** Makes the snapshot's spare if it is warm, has none, spares are on and NFR_WARM_MAX has room. */
export async function prepareSpareLocked(ctx: Context, maint: pg.ClientBase, id: SnapshotId): Promise<SpareOutcome> {
  if (!ctx.config.warmSpare) return { status: 'skipped', reason: 'spares are off (NFR_WARM_SPARE=false)' };
  const warm = await usableWarmCopy(ctx, maint, id);
  if (!warm) return { status: 'skipped', reason: `${id} is not warm` };
  const existing = await usableSpare(ctx, maint, id);
  if (existing) return { status: 'prepared', spare: existing };
  const { manifest } = await loadSnapshot(ctx.store, id);
  const registry = await readWarmRegistry(ctx.store, ctx.target.database);
  if (!manifest.tags.includes('pinned') && (await warmUnits(ctx, registry)) >= ctx.config.warmMax) {
    return { status: 'skipped', reason: `no room: warm copies and spares already reach NFR_WARM_MAX=${ctx.config.warmMax}` };
  }
  const live = ctx.target.database;
  const building = derivedDatabaseName(live, 'sparing');
  const name = warmDatabaseName(live, id, 'spare');
  await dropDatabase(maint, building);
  await dropDatabase(maint, name);
  try {
    await cloneDatabase(maint, building, warm.database);
    const rows = await checkRowCounts(withDatabase(ctx.target, building), manifest, ctx.config.parallelJobs);
    // Read here, off every critical path: its restore's report compares it with the index's.
    const signature = await withClient(withDatabase(ctx.target, building), (client) => indexSignature(client), 'nfr spare').catch(() => undefined);
    await faultPoint('spare-checked');
    // One transaction: the clone gets its spare name and refuses connections, so nothing can change it.
    await maint.query('begin');
    try {
      await maint.query(`alter database ${escapeIdentifier(building)} rename to ${escapeIdentifier(name)}`);
      await maint.query(`alter database ${escapeIdentifier(name)} with allow_connections false`);
      await maint.query('commit');
    } catch (err) {
      await maint.query('rollback').catch(() => {});
      throw err;
    }
    await faultPoint('spare-renamed');
    const info = await databaseInfo(maint, name);
    const spare: SpareCopy = { database: name, prepared_at: new Date().toISOString(), size_bytes: info?.sizeBytes ?? 0, rows, ...(signature === undefined ? {} : { index_signature: signature }) };
    await updateWarmRegistry(ctx.store, live, (r) => (r[id] ? { ...r, [id]: { ...r[id], spare } } : r));
    return { status: 'prepared', spare };
  } catch (err) {
    await dropDatabase(maint, building).catch(() => {});
    throw err;
  }
}

/**
 * How long a background preparer waits for the operation lock (an operation started right after
 * the restore may hold it); after that it gives up, and a server or the next restore makes it.
 */
export const SPARE_LOCK_WAIT_SECONDS = 600;

/**
 * Prepares the spare under an operation of its own ('spare', which other operations wait for
 * rather than fail on: see SPARE_GIVES_WAY_SECONDS): `nfr snapshot spare`, the detached preparer
 * a CLI restore starts after it has reported, and a server's background loop.
 */
export async function prepareSpare(ctx: Context, id: SnapshotId, waitSeconds = ctx.config.lockWaitSeconds, byUser = false): Promise<SpareOutcome> {
  if (!ctx.config.warmSpare) return { status: 'skipped', reason: 'spares are off (NFR_WARM_SPARE=false)' };
  // A user's own request waits for a background preparation instead of failing on its lock.
  return withOperation(ctx, 'spare', id, (op) => prepareRecorded(ctx, op.maint, id), waitSeconds, byUser || undefined);
}

async function prepareRecorded(ctx: Context, maint: pg.ClientBase, id: SnapshotId): Promise<SpareOutcome> {
  const started = Date.now();
  try {
    const outcome = await prepareSpareLocked(ctx, maint, id);
    // A spare somebody else prepared meanwhile is not an event of this one.
    if (outcome.status === 'prepared' && Date.parse(outcome.spare.prepared_at) >= started) {
      await recordEvent(ctx.store, { operation: 'warm', status: 'completed', snapshot_id: id, duration_ms: Date.now() - started, details: { spare: outcome.spare.database } });
    }
    return outcome;
  } catch (err) {
    await recordEvent(ctx.store, { operation: 'warm', status: 'failed', snapshot_id: id, duration_ms: Date.now() - started, error: `preparing the spare: ${(err as Error).message}` }).catch(() => {});
    throw err;
  }
}

/**
 * The warm snapshots of the live database that should have a spare and have none recorded:
 * spares on, and room under NFR_WARM_MAX (or pinned). Reads only the records, no database, so a
 * server can ask every few seconds.
 */
export async function sparesNeeded(ctx: Context): Promise<SnapshotId[]> {
  if (!ctx.config.warmSpare) return [];
  const registry = await readWarmRegistry(ctx.store, ctx.target.database);
  const missing = Object.values(registry).filter((c) => !c.spare);
  if (missing.length === 0) return [];
  let units = await warmUnits(ctx, registry);
  const needed: SnapshotId[] = [];
  for (const copy of missing) {
    const id = copy.snapshot_id as SnapshotId;
    const pinned = await loadSnapshot(ctx.store, id).then(
      (s) => s.manifest.tags.includes('pinned'),
      () => undefined,
    );
    if (pinned === undefined) continue; // its snapshot is gone or unreadable: nothing to make a spare of
    if (!pinned && units >= ctx.config.warmMax) continue;
    needed.push(id);
    if (!pinned) units += 1;
  }
  return needed;
}

/**
 * One pass of a server's spare loop: when a warm snapshot lacks its spare (a restore took it, a
 * preparer was killed, room was made), makes it, but only if the lock is free right now: it never
 * holds up an operation by waiting. The database a spare restore replaced is dropped first (the
 * operation's recovery does it: ./discard.ts), with spares on or off. Returns what it prepared.
 */
export async function prepareNeededSpares(ctx: Context): Promise<SpareCopy[]> {
  const needed = await sparesNeeded(ctx);
  if (needed.length === 0 && !(await discardWaiting(ctx))) return [];
  try {
    return await withOperation(
      ctx,
      'spare',
      null,
      async (op) => {
        const prepared: SpareCopy[] = [];
        for (const id of needed) {
          const outcome = await prepareRecorded(ctx, op.maint, id);
          if (outcome.status === 'prepared') prepared.push(outcome.spare);
        }
        return prepared;
      },
      0,
    );
  } catch (err) {
    if (err instanceof NfrError && err.code === 'LOCKED') return []; // an operation runs: next time
    throw err;
  }
}
