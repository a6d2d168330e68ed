/**
 * Warm snapshots: a ready copy of a snapshot's database kept on the server as a template, so a
 * restore clones it (`CREATE DATABASE … TEMPLATE … STRATEGY FILE_COPY`, a file copy) instead of
 * running pg_restore and rebuilding every index.
 *
 * A warm copy is built under a name of its own (`<db>__nfr_warming`), its row counts are checked
 * against the manifest, and only then is it renamed to `<db>__nfr_warm_<YYYY>_<NNNN>`, marked
 * IS_TEMPLATE with connections disallowed (nothing can change it), and recorded. Anything a
 * killed warm leaves is removed by the next operation (warm-copies.ts), so nothing ever looks
 * warm that is not.
 */
import path from 'node:path';
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { escapeIdentifier, serverMajor, withClient, withDatabase } from '../postgres/connection.js';
import { createDatabaseLike, databaseInfo, derivedDatabaseName, dropDatabase } from '../postgres/databases.js';
import { findClientTool } from '../postgres/tools.js';
import { prepareSpareLocked, type SpareOutcome } from './spare.js';
import { faultPoint } from '../util/fault.js';
import type { SnapshotId } from './ids.js';
import type { Manifest } from './manifest.js';
import { withOperation, type Operation, type ProgressListener } from '../runtime/operation.js';
import { checkRowCounts, restoreArchive } from './restore-archive.js';
import { catalogManifest } from './offsite/find.js';
import { recordEvent } from './state.js';
import { DUMP_DIR } from './store.js';
import { type Context } from '../runtime/context.js';
import { assertVerified, loadSnapshot } from './verify.js';
import { fetchIfOffsiteOnly } from './offsite/copies.js';
import { coolLocked, dropTemplate, readWarmRegistry, updateWarmRegistry, usableWarmCopy, warmDatabaseName, type WarmCopy } from './warm-copies.js';
import type { z } from 'zod';
import type { coolResultSchema } from './shapes.js';

export interface WarmOptions {
  readonly id: SnapshotId;
  readonly jobs?: number | undefined;
  readonly onProgress?: ProgressListener | undefined;
}

export interface WarmResult {
  readonly snapshot_id: string;
  readonly warm: WarmCopy;
  /** False when the snapshot was warm already (nothing was done). */
  readonly created: boolean;
  /** True when the snapshot was only offsite and was downloaded (and checked) first. */
  readonly fetched: boolean;
  /** Warm copies cooled to stay within NFR_WARM_MAX, least recently restored first. */
  readonly cooled: readonly string[];
  /** Its ready spare, or why there is none. */
  readonly spare: SpareOutcome;
  readonly duration_ms: number;
}

/** Makes a snapshot warm, under the operation lock. */
export async function warmSnapshot(ctx: Context, options: WarmOptions): Promise<WarmResult> {
  return withOperation(ctx, 'warm', options.id, (op) => warmSnapshotLocked(ctx, op, options));
}

/** The warm itself, for callers that hold the lock already (`create --warm`). */
export async function warmSnapshotLocked(ctx: Context, op: Operation, options: WarmOptions): Promise<WarmResult> {
  const started = Date.now();
  const progress = options.onProgress ?? (() => {});
  const jobs = options.jobs ?? ctx.config.parallelJobs;
  const live = ctx.target.database;
  try {
    const existing = await usableWarmCopy(ctx, op.maint, options.id);
    if (existing) {
      // Warm already; make sure it has its spare (a kill or a full NFR_WARM_MAX may have left it without).
      const spare = await prepareSpareLocked(ctx, op.maint, options.id);
      const warm = (await readWarmRegistry(ctx.store, live))[options.id] ?? existing;
      return { snapshot_id: options.id, warm, created: false, fetched: false, cooled: [], spare, duration_ms: Date.now() - started };
    }

    // A snapshot that lives only offsite (NFR_LOCAL_KEEP evicted it, or another server made it)
    // is fetched back first, every file checked, as a restore does; it then stays local while warm.
    const fetched = (await fetchIfOffsiteOnly(ctx, op, options.id, progress)) === 'fetched';
    progress({ phase: 'verifying' });
    const { dir, manifest } = await loadSnapshot(ctx.store, options.id);
    const { major } = await serverMajor(op.maint);
    if (major !== manifest.database.server_major) {
      throw new NfrError('SCHEMA_MISMATCH', `snapshot ${manifest.id} was dumped from PostgreSQL ${manifest.database.server_major}; this server is ${major}, so it cannot be warmed here`);
    }
    await assertVerified(dir, manifest, jobs, (file) => file.startsWith(`${DUMP_DIR}/`));
    const cooled = await makeRoom(ctx, op.maint, manifest);

    const building = derivedDatabaseName(live, 'warming');
    const name = warmDatabaseName(live, options.id);
    await dropDatabase(op.maint, building);
    await dropTemplate(op.maint, name);
    try {
      await createDatabaseLike(op.maint, building, manifest.database);
      const target = withDatabase(ctx.target, building);
      const pgRestore = await findClientTool('pg_restore', major, ctx.config);
      await restoreArchive(op.maint, pgRestore, target, path.join(dir, DUMP_DIR), manifest, jobs, progress);
      progress({ phase: 'checking', tables_done: 0, tables_total: manifest.tables.length });
      const rows = await checkRowCounts(target, manifest, jobs);
      // pg_restore leaves no visibility map, hint bits or statistics, and nothing vacuums a
      // template nobody can connect to: every clone (each restore, each spare) would start
      // without them, its queries planned blind and its index-only scans reading the heap (the
      // diff from history's digest, exact row counts). Done once here, off every critical path.
      progress({ phase: 'vacuuming' });
      await withClient(target, (client) => client.query('vacuum (analyze)'), 'nfr warm');
      await faultPoint('warm-checked');
      // One transaction: the copy gets its name and becomes a template that nobody can connect to.
      await op.maint.query('begin');
      try {
        await op.maint.query(`alter database ${escapeIdentifier(building)} rename to ${escapeIdentifier(name)}`);
        await op.maint.query(`alter database ${escapeIdentifier(name)} with is_template true allow_connections false`);
        await op.maint.query('commit');
      } catch (err) {
        await op.maint.query('rollback').catch(() => {});
        throw err;
      }
      await faultPoint('warm-renamed');
      const info = await databaseInfo(op.maint, name);
      const warm: WarmCopy = { snapshot_id: manifest.id, database: name, warmed_at: new Date().toISOString(), last_restored_at: null, size_bytes: info?.sizeBytes ?? 0, rows };
      await updateWarmRegistry(ctx.store, live, (r) => ({ ...r, [manifest.id]: warm }));
      // The spare, so the first restore is already a rename.
      progress({ phase: 'checking', tables_done: 0, tables_total: manifest.tables.length });
      const spare = await prepareSpareLocked(ctx, op.maint, options.id);
      progress({ phase: 'completed', tables_done: manifest.tables.length, tables_total: manifest.tables.length });
      const duration = Date.now() - started;
      await recordEvent(ctx.store, { operation: 'warm', status: 'completed', snapshot_id: manifest.id, duration_ms: duration });
      const recorded = (await readWarmRegistry(ctx.store, live))[manifest.id] ?? warm;
      return { snapshot_id: manifest.id, warm: recorded, created: true, fetched, cooled, spare, duration_ms: duration };
    } catch (err) {
      await dropDatabase(op.maint, building).catch(() => {});
      throw err;
    }
  } catch (err) {
    await recordEvent(ctx.store, { operation: 'warm', status: 'failed', snapshot_id: options.id, duration_ms: Date.now() - started, error: (err as Error).message }).catch(() => {});
    throw err;
  }
}

/**
 * Cools copies to stay within NFR_WARM_MAX: the least recently restored first. Copies of pinned
 * snapshots may stay warm forever and do not count against the limit.
 */
async function makeRoom(ctx: Context, maint: pg.ClientBase, incoming: Manifest): Promise<string[]> {
  const limit = ctx.config.warmMax;
  if (limit === 0) throw new NfrError('CONFIG', 'warm copies are disabled (NFR_WARM_MAX=0); set NFR_WARM_MAX to the number of warm copies the server may hold');
  if (incoming.tags.includes('pinned')) return [];
  const registry = await readWarmRegistry(ctx.store, ctx.target.database);
  const counted: WarmCopy[] = [];
  for (const copy of Object.values(registry)) {
    if (!(await isPinned(ctx, copy.snapshot_id))) counted.push(copy);
  }
  counted.sort((a, b) => (a.last_restored_at ?? a.warmed_at).localeCompare(b.last_restored_at ?? b.warmed_at));
  const cooled: string[] = [];
  // Spares count too, and go first: they are remade from their copy, a copy from the archive.
  const units = () => counted.reduce((n, c) => n + (c.spare ? 2 : 1), 0);
  while (counted.length > 0 && units() >= limit) {
    const withSpare = counted.findIndex((c) => c.spare);
    if (withSpare >= 0) {
      const copy = counted[withSpare] as WarmCopy;
      if (copy.spare) await dropDatabase(maint, copy.spare.database);
      await updateWarmRegistry(ctx.store, ctx.target.database, (r) => (r[copy.snapshot_id] ? { ...r, [copy.snapshot_id]: { ...r[copy.snapshot_id]!, spare: null } } : r));
      counted[withSpare] = { ...copy, spare: null };
      continue;
    }
    const victim = counted.shift() as WarmCopy;
    await coolLocked(ctx, maint, victim.snapshot_id);
    cooled.push(victim.snapshot_id);
  }
  return cooled;
}

async function isPinned(ctx: Context, id: string): Promise<boolean> {
  try {
    return (await loadSnapshot(ctx.store, id as SnapshotId)).manifest.tags.includes('pinned');
  } catch {
    return false;
  }
}

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type CoolResult = z.infer<typeof coolResultSchema>;

/** Drops a snapshot's warm copy, under the operation lock. The snapshot itself stays. */
export async function coolSnapshot(ctx: Context, id: SnapshotId): Promise<CoolResult> {
  return withOperation(ctx, 'cool', id, async (op) => {
    // A snapshot kept only offsite is in the catalog too; it has no warm copy to drop.
    await catalogManifest(ctx, id);
    const copy = (await readWarmRegistry(ctx.store, ctx.target.database))[id];
    const cooled = await coolLocked(ctx, op.maint, id);
    if (cooled) await recordEvent(ctx.store, { operation: 'cool', status: 'completed', snapshot_id: id });
    return { snapshot_id: id, cooled, freed_bytes: cooled ? (copy?.size_bytes ?? 0) : 0 };
  });
}

