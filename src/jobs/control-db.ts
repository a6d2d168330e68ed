/**
 * The control database: `<live>_nfr` beside the live database (or NFR_CONTROL_DATABASE), holding
 * the job queue and the servers' heartbeats. A restore replaces the live database and never
 * touches this one, so job states survive every restore, and every server on the same PostgreSQL
 * shares them. It is created on first use and migrated like the app schema, from
 * `control-migrations/`.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import type PgBoss from 'pg-boss';
import { NfrError, sqlState } from '../errors.js';
import { connect, escapeIdentifier, transaction, withDatabase, type PgTarget } from '../postgres/connection.js';
import { databaseExists } from '../postgres/databases.js';
import { runMigrations } from '../postgres/migrate.js';
import { withPoolClient } from '../postgres/pool.js';
import type { Context } from '../runtime/context.js';

export const CONTROL_MIGRATIONS_DIR = fileURLToPath(new URL('../../../control-migrations', import.meta.url));
export const CONTROL_MIGRATIONS_TABLE = 'nfr_control_migrations';

/** `<live>_nfr`, or NFR_CONTROL_DATABASE. Within PostgreSQL's 63 bytes, the live name is cut. */
export function controlDatabaseName(ctx: Pick<Context, 'config' | 'target'>): string {
  if (ctx.config.controlDatabase !== undefined) return ctx.config.controlDatabase;
  let live = ctx.target.database;
  while (Buffer.byteLength(live) > 59) live = live.slice(0, -1);
  return `${live}_nfr`;
}

/**
 * Creates the control database if it does not exist (two servers racing both succeed) and
 * migrates it to head. Returns its target.
 */
export async function openControlDatabase(ctx: Pick<Context, 'config' | 'target' | 'maintenance'>): Promise<PgTarget> {
  const target = controlDatabaseTarget(ctx);
  const name = target.database;
  // Every audited command, recovery and report opens it, and it is nearly always there at head:
  // then one session says so, without the maintenance session or the migration library.
  const session = await connect(target, 'nfr control').catch(() => undefined);
  if (session) {
    try {
      if (await atHead(session)) return target;
    } finally {
      await session.end().catch(() => {});
    }
  }
  const maint = await connect(ctx.maintenance, 'nfr control');
  try {
    if (!(await databaseExists(maint, name))) {
      try {
        await maint.query(`create database ${escapeIdentifier(name)} template template0`);
      } catch (err) {
        // 42P04: another server created it in the meantime (23505 when the race is that close).
        const code = sqlState(err);
        if (code !== '42P04' && code !== '23505') {
          throw new NfrError(code === '42501' ? 'CONFIG' : 'DATABASE', `cannot create the control database "${name}" for the job queue: ${(err as Error).message}. Create it (CREATE DATABASE ${name}) or name an existing one in NFR_CONTROL_DATABASE`, { cause: err });
        }
      }
    }
  } finally {
    await maint.end().catch(() => {});
  }
  const client = await connect(target, 'nfr control migrate');
  try {
    await runMigrations(client, CONTROL_MIGRATIONS_DIR, CONTROL_MIGRATIONS_TABLE);
  } catch (err) {
    throw new NfrError('DATABASE', `migration of the control database "${name}" failed: ${(err as Error).message}`, { cause: err });
  } finally {
    await client.end().catch(() => {});
  }
  return target;
}

/** Control databases this process has opened (created, migrated), by where they are. */
const opened = new Map<string, Promise<PgTarget>>();

function openedKey(ctx: Pick<Context, 'config' | 'target'>): string {
  return `${ctx.target.host}:${ctx.target.port}/${controlDatabaseName(ctx)}`;
}

/**
 * openControlDatabase once per process: the command's later users (the audit trail first, then
 * recovery and the upload records) find it open without another session. A failure (the server
 * was down) is not remembered: the next call tries again.
 */
export function openControlDatabaseOnce(ctx: Pick<Context, 'config' | 'target' | 'maintenance'>): Promise<PgTarget> {
  const key = openedKey(ctx);
  let target = opened.get(key);
  if (target === undefined) {
    target = openControlDatabase(ctx);
    opened.set(key, target);
    target.catch(() => opened.delete(key));
  }
  return target;
}

/**
 * connectControlDatabase's checks in progress, by where: true once one found the database at
 * head (a create's audit start runs alongside its recovery, which asks controlDatabaseOpened).
 */
const checking = new Map<string, Promise<boolean>>();

/** True when this process has opened the control database already (so it exists). */
export async function controlDatabaseOpened(ctx: Pick<Context, 'config' | 'target'>): Promise<boolean> {
  const key = openedKey(ctx);
  if (!opened.has(key) && (await checking.get(key))) return true;
  const target = opened.get(key);
  return target !== undefined && (await target.then(() => true, () => false));
}

/**
 * A session on the control database, opened (created, migrated) first unless this process has
 * opened it already. When it is at head, as nearly always, the session that found so is the one
 * returned: an audited command records its start with one session, not two.
 */
export async function connectControlDatabase(ctx: Pick<Context, 'config' | 'target' | 'maintenance'>, applicationName: string): Promise<pg.Client> {
  const key = openedKey(ctx);
  if (!opened.has(key)) {
    const target = controlDatabaseTarget(ctx);
    // Not there yet (or unreachable): the full path below creates it or says why.
    const check = (async () => {
      const client = await connect(target, applicationName).catch(() => undefined);
      return { client, atHead: client !== undefined && (await atHead(client).catch(() => false)) };
    })();
    const found = check.then((c) => c.atHead);
    checking.set(key, found);
    const { client, atHead: head } = await check.finally(() => {
      if (checking.get(key) === found) checking.delete(key);
    });
    if (client) {
      if (head) {
        opened.set(key, Promise.resolve(target));
        return client;
      }
      await client.end().catch(() => {});
    }
  }
  return connect(await openControlDatabaseOnce(ctx), applicationName);
}

/** The control database's target; refuses (CONFIG) a control database that is the live one. */
export function controlDatabaseTarget(ctx: Pick<Context, 'config' | 'target'>): PgTarget {
  const name = controlDatabaseName(ctx);
  if (name === ctx.target.database) {
    throw new NfrError('CONFIG', `NFR_CONTROL_DATABASE=${name} is the live database: the job queue needs a database of its own, which restores never replace`);
  }
  return withDatabase(ctx.target, name);
}

/** True when the session's database has every migration of CONTROL_MIGRATIONS_DIR applied. */
async function atHead(client: pg.ClientBase): Promise<boolean> {
  const exists = await client.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [CONTROL_MIGRATIONS_TABLE]);
  if (!exists.rows[0]?.ok) return false;
  const applied = new Set((await client.query<{ name: string }>(`select name from ${escapeIdentifier(CONTROL_MIGRATIONS_TABLE)}`)).rows.map((r) => r.name));
  const files = (await readdir(CONTROL_MIGRATIONS_DIR)).filter((f) => /^\d+_.+\.sql$/.test(f));
  // Exactly the files: a database with migrations this code does not know takes the full path, which says so.
  return applied.size === files.length && files.every((f) => applied.has(f.replace(/\.sql$/, '')));
}

/**
 * Serialises, across servers, what makes pg-boss create or drop a queue: its create_queue adds a
 * partition to its job table, and two servers doing that at the same moment deadlock.
 */
export const QUEUE_SETUP_LOCK = 0x4e465153;

/** A transaction on a pooled session, handed to pg-boss as its `db` so queue and records commit together. */
export function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient, db: PgBoss.Db) => Promise<T>): Promise<T> {
  // A session the control database ends mid-transaction (a restart) fails this call, never the process.
  return withPoolClient(pool, (client) => transaction(client, () => fn(client, { executeSql: (text: string, values: unknown[]) => client.query(text, values) })), false);
}
