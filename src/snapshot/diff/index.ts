/**
 * What restoring a snapshot would change, before it runs — in tables and in the data's own terms.
 *
 *   resolve sides    the snapshot's manifest and the target's (live, or another snapshot)
 *   choose method    history when the live database descends from every snapshot involved
 *                    (their manifests' history marks), otherwise a copy of each snapshot: a clone
 *                    of its warm copy, or a scratch restore of its archive
 *   schema           each side's schema version, and whether the restore needs --force
 *   tables           every table's row count on each side and the difference
 *   changes          per entity: what the restore removes, brings back and reverts; a page of ids
 *
 * Nothing here changes the live database. The copies are databases of their own
 * (`<live>__nfr_diff`, `<live>__nfr_diffto`), made and dropped under the operation lock; a kill
 * leaves them to the next operation's recovery, like a staging database.
 */
import path from 'node:path';
import type pg from 'pg';
import { NfrError } from '../../errors.js';
import { connect, serverMajor, withClient, withDatabase } from '../../postgres/connection.js';
import { cloneDatabase, countRows, createDatabaseLike, derivedDatabaseName, dropDatabase, listTables } from '../../postgres/databases.js';
import { schemaVersion } from '../../postgres/migrate.js';
import { findClientTool } from '../../postgres/tools.js';
import type { Context } from '../../runtime/context.js';
import { withOperation, type Operation, type ProgressListener } from '../../runtime/operation.js';
import { parseSnapshotId, type SnapshotId } from '../ids.js';
import type { Manifest } from '../manifest.js';
import { restoreArchive } from '../restore-archive.js';
import { catalogManifest } from '../offsite/find.js';
import { schemaRelation } from '../restore-plan.js';
import { DUMP_DIR } from '../store.js';
import { usableWarmCopy } from '../warm-copies.js';
import type { ChangeCounts, DiffItem, EntityChanges, PageRequest } from './changes.js';
import { DIFF_CHANGES, DIFF_ENTITIES, type DiffChange, type DiffEntity, type EntityTable } from './entities.js';
import { changesBetweenDatabases } from './from-databases.js';
import { changesFromHistory } from './from-history.js';
import { descendsFrom } from './history-mark.js';
import type { z } from 'zod';
import type { snapshotDiffSchema, tableDiffSchema } from '../shapes.js';

export type { DiffItem, AttributeChange, ChangeCounts } from './changes.js';
export { DIFF_CHANGES, DIFF_ENTITIES, type DiffChange, type DiffEntity } from './entities.js';

export type DiffMethod = SnapshotDiff['method'];

export interface DiffOptions {
  readonly id: SnapshotId;
  /** `live` (the default) or another snapshot. */
  readonly to?: 'live' | SnapshotId | undefined;
  readonly limit?: number | undefined;
  readonly cursor?: string | undefined;
  readonly entity?: DiffEntity | undefined;
  readonly change?: DiffChange | undefined;
  /** Force a way of computing it (tests compare them); by default the cheapest that applies. */
  readonly method?: DiffMethod | undefined;
  readonly onProgress?: ProgressListener | undefined;
}

export type TableDiff = z.infer<typeof tableDiffSchema>;

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type SnapshotDiff = z.infer<typeof snapshotDiffSchema>;

export const DIFF_LIMIT_DEFAULT = 100;
export const DIFF_LIMIT_MAX = 1000;

export async function diffSnapshot(ctx: Context, options: DiffOptions): Promise<SnapshotDiff> {
  const started = Date.now();
  const request = parseRequest(options);
  const sides = await resolveSides(ctx, options);
  return withClient(
    ctx.target,
    async (live) => {
      const chosen = await chooseMethod(ctx, live, sides, options.method);
      const schema = await compareSchemas(live, sides);
      const tables = await compareTables(live, sides);
      const { summary, changes, next_cursor } =
        chosen.method === 'history'
          ? await pageChanges(request, (e, page) => changesFromHistory(live, e, { at: sides.snapshot.history?.high_water ?? '-infinity' }, sides.to ? { at: sides.to.history?.high_water ?? '-infinity' } : 'current', page))
          : await fromCopies(ctx, sides, live, chosen.method, request, options.onProgress ?? (() => {}));
      return { snapshot_id: sides.snapshot.id, to: sides.to?.id ?? 'live', method: chosen.method, method_reason: chosen.reason, schema, tables, summary, changes, next_cursor, duration_ms: Date.now() - started };
    },
    'nfr snapshot diff',
  );
}

/**
 * How a diff would be computed, checking its request, without computing it: the API answers a
 * diff from history at once and queues the others as jobs.
 */
export async function planDiff(ctx: Context, options: DiffOptions): Promise<{ method: DiffMethod; reason: string }> {
  parseRequest(options);
  const sides = await resolveSides(ctx, options);
  return withClient(ctx.target, (live) => chooseMethod(ctx, live, sides, options.method), 'nfr snapshot diff');
}

interface Sides {
  readonly snapshot: Manifest;
  /** The snapshot's local directory; undefined when it is only in the offsite repository. */
  readonly snapshotDir: string | undefined;
  /** The other snapshot, or undefined for live. */
  readonly to: Manifest | undefined;
  readonly toDir: string | undefined;
}

/**
 * Each side's manifest from wherever the catalog has it: a snapshot only in the offsite
 * repository (NFR_LOCAL_KEEP) diffs from history with its manifest alone; only a scratch restore
 * needs its archive on local disk (copyOf says so).
 */
async function resolveSides(ctx: Context, options: DiffOptions): Promise<Sides> {
  const a = await catalogManifest(ctx, options.id);
  if (options.to === undefined || options.to === 'live') return { snapshot: a.manifest, snapshotDir: a.dir, to: undefined, toDir: undefined };
  const b = await catalogManifest(ctx, parseSnapshotId(options.to));
  return { snapshot: a.manifest, snapshotDir: a.dir, to: b.manifest, toDir: b.dir };
}

async function chooseMethod(ctx: Context, live: pg.ClientBase, sides: Sides, forced: DiffMethod | undefined): Promise<{ method: DiffMethod; reason: string }> {
  const manifests = sides.to ? [sides.snapshot, sides.to] : [sides.snapshot];
  let why = `${forced} asked for`;
  if (forced === undefined || forced === 'history') {
    const without = manifests.find((m) => !m.history);
    const diverged = without ? undefined : await findAsync(manifests, async (m) => !(await descendsFrom(live, m.history!)));
    if (!without && !diverged) return { method: 'history', reason: `the live database descends from ${manifests.map((m) => m.id).join(' and ')}: read from its transaction-time history` };
    why = without ? `${without.id} has no history mark (taken before nfr recorded one)` : `the live database does not descend from ${diverged!.id} (its history up to the snapshot differs)`;
    if (forced === 'history') throw new NfrError('INVALID_INPUT', `${why}, so the diff cannot come from history`);
  }
  if (forced === 'scratch') return { method: 'scratch', reason: `${why}: compared with a scratch restore of the archive` };
  const cold = await findAsync(manifests, async (m) => (await usableWarmCopy(ctx, live, m.id)) === undefined);
  if (!cold) return { method: 'warm', reason: `${why}: compared with a clone of the warm copy` };
  if (forced === 'warm') throw new NfrError('NOT_FOUND', `${cold.id} has no warm copy to diff against; warm it (nfr snapshot warm --id ${cold.id}) or let the diff restore it into a scratch database`);
  return { method: 'scratch', reason: `${why}, and ${cold.id} has no warm copy: compared with a scratch restore of the archive` };
}

async function findAsync<T>(items: readonly T[], test: (item: T) => Promise<boolean>): Promise<T | undefined> {
  for (const item of items) if (await test(item)) return item;
  return undefined;
}

async function compareSchemas(live: pg.ClientBase, sides: Sides): Promise<SnapshotDiff['schema']> {
  const snap = sides.snapshot.database.schema_version;
  const { code, relation } = schemaRelation(snap);
  const to = sides.to ? sides.to.database.schema_version : await schemaVersion(live);
  return { snapshot: snap, to, code, relation, force_required: relation === 'older', restorable: relation !== 'newer' };
}

/** Every table on either side: the snapshot's counts from its manifest, live's counted now. */
async function compareTables(live: pg.ClientBase, sides: Sides): Promise<TableDiff[]> {
  const key = (t: { schema: string; name: string }) => `${t.schema}.${t.name}`;
  const snap = new Map(sides.snapshot.tables.map((t) => [key(t), t.rows]));
  const to = new Map<string, number>();
  if (sides.to) for (const t of sides.to.tables) to.set(key(t), t.rows);
  else for (const t of await listTables(live)) to.set(key(t), await countRows(live, t));
  const names = [...new Set([...snap.keys(), ...to.keys()])].sort();
  return names.map((n) => {
    const [schema = '', ...rest] = n.split('.');
    const s = snap.get(n) ?? null;
    const o = to.get(n) ?? null;
    return { schema, name: rest.join('.'), snapshot_rows: s, to_rows: o, difference: (s ?? 0) - (o ?? 0) };
  });
}

interface Request {
  readonly limit: number;
  readonly cursor: { readonly entity: DiffEntity; readonly id: string } | null;
  readonly entity: DiffEntity | null;
  readonly change: DiffChange | null;
}

function parseRequest(options: DiffOptions): Request {
  const limit = options.limit ?? DIFF_LIMIT_DEFAULT;
  if (!Number.isInteger(limit) || limit < 1 || limit > DIFF_LIMIT_MAX) throw new NfrError('INVALID_INPUT', `invalid diff limit ${String(options.limit)}: expected a whole number from 1 to ${DIFF_LIMIT_MAX}`);
  if (options.entity !== undefined && !DIFF_ENTITIES.some((e) => e.entity === options.entity)) {
    throw new NfrError('INVALID_INPUT', `invalid diff entity ${JSON.stringify(options.entity)}: expected one of ${DIFF_ENTITIES.map((e) => e.entity).join(', ')}`);
  }
  if (options.change !== undefined && !DIFF_CHANGES.includes(options.change)) {
    throw new NfrError('INVALID_INPUT', `invalid diff change ${JSON.stringify(options.change)}: expected one of ${DIFF_CHANGES.join(', ')}`);
  }
  return { limit, cursor: options.cursor === undefined ? null : decodeCursor(options.cursor), entity: options.entity ?? null, change: options.change ?? null };
}

export function encodeCursor(item: { readonly entity: DiffEntity; readonly id: string }): string {
  return Buffer.from(JSON.stringify({ e: item.entity, id: item.id })).toString('base64url');
}

function decodeCursor(cursor: string): { entity: DiffEntity; id: string } {
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { e?: unknown; id?: unknown };
    const entity = DIFF_ENTITIES.find((e) => e.entity === v.e)?.entity;
    if (entity && typeof v.id === 'string') return { entity, id: v.id };
  } catch {
    // reported below
  }
  throw new NfrError('INVALID_INPUT', `invalid diff cursor ${JSON.stringify(cursor.slice(0, 80))}: pass the next_cursor of a previous answer unchanged`);
}

/**
 * Counts every entity's changes and collects one page of them, entity by entity in a fixed order
 * and by id within each, starting after the cursor.
 */
async function pageChanges(request: Request, changesOf: (e: EntityTable, page: PageRequest) => Promise<EntityChanges>) {
  const summary = {} as Record<DiffEntity, ChangeCounts>;
  const changes: DiffItem[] = [];
  let more = false;
  const cursorAt = request.cursor ? DIFF_ENTITIES.findIndex((e) => e.entity === request.cursor?.entity) : 0;
  for (const [i, e] of DIFF_ENTITIES.entries()) {
    const listed = (request.entity === null || request.entity === e.entity) && i >= cursorAt;
    const room = listed && !more ? request.limit - changes.length : 0;
    const r = await changesOf(e, { after: request.cursor && i === cursorAt ? request.cursor.id : null, change: request.change, limit: room });
    summary[e.entity] = r.counts;
    if (!listed || more) continue;
    changes.push(...r.items.slice(0, room));
    if (r.items.length > room) more = true;
  }
  const last = changes[changes.length - 1];
  return { summary, changes, next_cursor: more && last ? encodeCursor(last) : null };
}

/**
 * The diff against copies of the snapshots, made under the operation lock and always dropped: a
 * clone of a warm copy (method `warm`, when every snapshot involved has one) or a pg_restore of the
 * archive (`scratch`, reporting progress).
 */
async function fromCopies(ctx: Context, sides: Sides, live: pg.ClientBase, method: DiffMethod, request: Request, progress: ProgressListener) {
  return withOperation(ctx, 'diff', sides.snapshot.id, async (op) => {
    const names = { snapshot: derivedDatabaseName(ctx.target.database, 'diff'), to: derivedDatabaseName(ctx.target.database, 'diffto') };
    const clients: pg.Client[] = [];
    try {
      const snapshotDb = await copyOf(ctx, op, sides.snapshot, sides.snapshotDir, names.snapshot, method, progress);
      clients.push(snapshotDb);
      const toDb = sides.to ? await copyOf(ctx, op, sides.to, sides.toDir, names.to, method, progress) : live;
      if (toDb !== live) clients.push(toDb as pg.Client);
      progress({ phase: 'comparing' });
      return await pageChanges(request, (e, page) => changesBetweenDatabases(snapshotDb, toDb, e, page));
    } finally {
      for (const c of clients) await c.end().catch(() => {});
      await dropDatabase(op.maint, names.snapshot).catch(() => {});
      await dropDatabase(op.maint, names.to).catch(() => {});
    }
  });
}

async function copyOf(ctx: Context, op: Operation, manifest: Manifest, dir: string | undefined, name: string, method: DiffMethod, progress: ProgressListener): Promise<pg.Client> {
  await dropDatabase(op.maint, name);
  const warm = method === 'warm' ? await usableWarmCopy(ctx, op.maint, manifest.id) : undefined;
  if (method === 'warm' && !warm) throw new NfrError('NOT_FOUND', `the warm copy of ${manifest.id} went away while the diff waited for the lock; run the diff again`);
  if (warm) {
    progress({ phase: 'cloning', bytes: warm.size_bytes });
    await cloneDatabase(op.maint, name, warm.database);
  } else {
    if (dir === undefined) {
      throw new NfrError(
        'OFFSITE_ONLY',
        `snapshot ${manifest.id} is not on local disk: its only copy is in the offsite repository, and a diff that cannot come from history restores the archive into a scratch database; bring it back first with \`nfr snapshot warm --id ${manifest.id}\` (the diff then uses the warm copy)`,
        { details: { location: 'offsite' } },
      );
    }
    const { major } = await serverMajor(op.maint);
    if (major !== manifest.database.server_major) {
      throw new NfrError('SCHEMA_MISMATCH', `snapshot ${manifest.id} was dumped from PostgreSQL ${manifest.database.server_major}; this server is ${major}, so it cannot be restored here to compare`);
    }
    const pgRestore = await findClientTool('pg_restore', major, ctx.config);
    await createDatabaseLike(op.maint, name, manifest.database);
    progress({ phase: 'restoring', tables_done: 0, tables_total: manifest.tables.length });
    await restoreArchive(op.maint, pgRestore, withDatabase(ctx.target, name), path.join(dir, DUMP_DIR), manifest, ctx.config.parallelJobs, progress);
  }
  return connect(withDatabase(ctx.target, name), 'nfr snapshot diff');
}
