/**
 * The warm copies of the live database's snapshots: their names on the server, the record of
 * them in `.state/warm.<db>.json`, dropping one, and removing what a killed warm left behind.
 * A copy is warm when both the record and the template database exist. Call everything that
 * changes them under the operation lock.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { escapeIdentifier } from '../postgres/connection.js';
import { dropDatabase } from '../postgres/databases.js';
import { atomicWriteFile } from '../util/fs.js';
import type { SnapshotId } from './ids.js';
import type { Context, SnapshotStore } from '../runtime/context.js';
import type { z } from 'zod';
import type { spareCopySchema, warmCopySchema } from './shapes.js';

/** Defined once, in snapshot/shapes.ts (status's response schema is generated from it). */
export type WarmCopy = Readonly<z.infer<typeof warmCopySchema>>;
export type SpareCopy = Readonly<z.infer<typeof spareCopySchema>>;

export type WarmRegistry = Record<string, WarmCopy>;

const MAX_NAME_BYTES = 63;

/** `<db>__nfr_warm_2026_0003`, kept within PostgreSQL's 63-byte names (long names get a hash). */
export function warmDatabaseName(live: string, id: SnapshotId, kind: 'warm' | 'spare' = 'warm'): string {
  const suffix = `__nfr_${kind}_${id.slice('SNAP-'.length).replace('-', '_')}`;
  if (Buffer.byteLength(live) + Buffer.byteLength(suffix) <= MAX_NAME_BYTES) return `${live}${suffix}`;
  const hash = createHash('sha256').update(live).digest('hex').slice(0, 8);
  const room = MAX_NAME_BYTES - Buffer.byteLength(suffix) - hash.length - 1;
  return `${Buffer.from(live).subarray(0, Math.max(0, room)).toString('utf8').replace(/\uFFFD/g, '')}_${hash}${suffix}`;
}

function registryFile(store: SnapshotStore, live: string): string {
  return path.join(store.stateDir, `warm.${encodeURIComponent(live)}.json`);
}

/** The recorded warm copies of the live database (records only; see usableWarmCopy). */
export async function readWarmRegistry(store: SnapshotStore, live: string): Promise<WarmRegistry> {
  try {
    return JSON.parse(await readFile(registryFile(store, live), 'utf8')) as WarmRegistry;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

/**
 * Every recorded warm copy in the repository, by snapshot id, read without a database connection
 * (for `list` and `show`).
 */
export async function readAllWarmCopies(store: SnapshotStore): Promise<Map<string, WarmCopy>> {
  const out = new Map<string, WarmCopy>();
  const files = await readdir(store.stateDir).catch(() => [] as string[]);
  for (const file of files.filter((f) => f.startsWith('warm.') && f.endsWith('.json')).sort()) {
    try {
      const registry = JSON.parse(await readFile(path.join(store.stateDir, file), 'utf8')) as WarmRegistry;
      for (const [id, copy] of Object.entries(registry)) out.set(id, copy);
    } catch {
      // A registry being replaced right now; the next read sees the new one.
    }
  }
  return out;
}

async function writeRegistry(store: SnapshotStore, live: string, registry: WarmRegistry): Promise<void> {
  await atomicWriteFile(registryFile(store, live), JSON.stringify(registry, null, 2) + '\n');
}

export async function updateWarmRegistry(store: SnapshotStore, live: string, change: (r: WarmRegistry) => WarmRegistry): Promise<void> {
  await writeRegistry(store, live, change(await readWarmRegistry(store, live)));
}

/** The warm copy of a snapshot if it is recorded and its template database exists as one. */
export async function usableWarmCopy(ctx: Context, maint: pg.ClientBase, id: string): Promise<WarmCopy | undefined> {
  const copy = (await readWarmRegistry(ctx.store, ctx.target.database))[id];
  if (!copy) return undefined;
  const r = await maint.query<{ datistemplate: boolean }>('select datistemplate from pg_database where datname = $1', [copy.database]);
  return r.rows[0]?.datistemplate ? copy : undefined;
}

export async function markWarmRestored(ctx: Context, id: string): Promise<void> {
  await updateWarmRegistry(ctx.store, ctx.target.database, (r) => (r[id] ? { ...r, [id]: { ...r[id], last_restored_at: new Date().toISOString() } } : r));
}

/** Drops the warm copy of `id` if there is one (call under the lock). The record goes last. */
export async function coolLocked(ctx: Context, maint: pg.ClientBase, id: string): Promise<boolean> {
  const live = ctx.target.database;
  const copy = (await readWarmRegistry(ctx.store, live))[id];
  const name = copy?.database ?? (/^SNAP-\d{4}-\d{4,}$/.test(id) ? warmDatabaseName(live, id as SnapshotId) : undefined);
  const dropped = name ? await dropTemplate(maint, name) : false;
  if (/^SNAP-\d{4}-\d{4,}$/.test(id)) await dropDatabase(maint, copy?.spare?.database ?? warmDatabaseName(live, id as SnapshotId, 'spare'));
  if (copy) {
    await updateWarmRegistry(ctx.store, live, (r) => {
      const { [id]: _gone, ...rest } = r;
      return rest;
    });
  }
  return dropped || copy !== undefined;
}

/** A template database cannot be dropped: it is made an ordinary one first. */
export async function dropTemplate(maint: pg.ClientBase, name: string): Promise<boolean> {
  const r = await maint.query('select 1 from pg_database where datname = $1', [name]);
  if (!r.rowCount) return false;
  await maint.query(`alter database ${escapeIdentifier(name)} with is_template false`);
  await dropDatabase(maint, name);
  return true;
}

/** What recovery would find of a killed warm or cool: unrecorded copies, records of gone copies. Reads only. */
export async function warmLeftovers(ctx: Context, maint: pg.ClientBase): Promise<{ unrecorded: string[]; stale: string[]; unrecordedSpares: string[]; staleSpares: string[] }> {
  const live = ctx.target.database;
  const registry = await readWarmRegistry(ctx.store, live);
  const recorded = new Set(Object.values(registry).map((c) => c.database));
  // Every warm-named database on the server; one is this live database's when its name is the
  // one warmDatabaseName gives for the id it ends with (long names are hashed per id length).
  const r = await maint.query<{ datname: string; datistemplate: boolean }>("select datname, datistemplate from pg_database where datname ~ '__nfr_warm_[0-9]{4}_[0-9]{4,}$'");
  const ours = r.rows.filter((row) => {
    const m = /__nfr_warm_(\d{4})_(\d{4,})$/.exec(row.datname);
    return m !== null && warmDatabaseName(live, `SNAP-${m[1]}-${m[2]}` as SnapshotId) === row.datname;
  });
  // Spares: one is usable only when recorded; a spare-named database without a record is what a
  // killed preparation left after its rename, and a record without its database is stale.
  const spares = await maint.query<{ datname: string }>("select datname from pg_database where datname ~ '__nfr_spare_[0-9]{4}_[0-9]{4,}$'");
  const recordedSpares = new Set(Object.values(registry).flatMap((c) => (c.spare ? [c.spare.database] : [])));
  const ourSpares = spares.rows.map((row) => row.datname).filter((name) => {
    const m = /__nfr_spare_(\d{4})_(\d{4,})$/.exec(name);
    return m !== null && warmDatabaseName(live, `SNAP-${m[1]}-${m[2]}` as SnapshotId, 'spare') === name;
  });
  const existingSpares = new Set(ourSpares);
  const present = new Set(ours.filter((row) => row.datistemplate).map((row) => row.datname));
  return {
    unrecorded: ours.filter((row) => !recorded.has(row.datname)).map((row) => row.datname),
    stale: Object.values(registry).filter((c) => !present.has(c.database)).map((c) => c.database),
    unrecordedSpares: ourSpares.filter((name) => !recordedSpares.has(name)),
    staleSpares: Object.values(registry).flatMap((c) => (c.spare && !existingSpares.has(c.spare.database) ? [c.spare.database] : [])),
  };
}

/**
 * After a killed warm or cool: template databases of this live database that no record names
 * are dropped, and records whose database is gone are removed. Call under the lock.
 */
export async function recoverWarmLeftovers(ctx: Context, maint: pg.ClientBase): Promise<string[]> {
  const live = ctx.target.database;
  const { unrecorded, stale, unrecordedSpares, staleSpares } = await warmLeftovers(ctx, maint);
  const dropped: string[] = [];
  for (const name of unrecorded) {
    await dropTemplate(maint, name);
    dropped.push(name);
  }
  for (const name of unrecordedSpares) {
    await dropDatabase(maint, name);
    dropped.push(name);
  }
  if (staleSpares.length > 0) {
    const gone = new Set(staleSpares);
    await updateWarmRegistry(ctx.store, live, (reg) => Object.fromEntries(Object.entries(reg).map(([k, c]) => [k, c.spare && gone.has(c.spare.database) ? { ...c, spare: null } : c])));
  }
  if (stale.length > 0) {
    const gone = new Set(stale);
    await updateWarmRegistry(ctx.store, live, (reg) => Object.fromEntries(Object.entries(reg).filter(([, c]) => !gone.has(c.database))));
  }
  return dropped;
}
