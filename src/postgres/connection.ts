/**
 * Where the live database is and how to talk to it: a connection target resolved from
 * DATABASE_URL or the embedded cluster, clients with a bounded connect timeout, and the
 * environment that hands credentials to pg_dump/pg_restore without putting them in argv.
 */
import type pg from 'pg';
import type { Config } from '../config.js';
import { NfrError } from '../errors.js';
import { ensureEmbeddedCluster } from './cluster.js';
import { pgDriver } from './driver.js';

export interface PgTarget {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string | undefined;
  readonly database: string;
  /** libpq sslmode from the URL, passed on to the tools. */
  readonly sslmode: string | undefined;
}

export { escapeIdentifier, escapeLiteral, pgDriver } from './driver.js';

/** Parses a postgresql:// URL into a target. */
export function targetFromUrl(url: string): PgTarget {
  const u = new URL(url);
  const database = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!database) throw new NfrError('CONFIG', 'DATABASE_URL names no database: expected postgresql://user:password@host:5432/dbname');
  return Object.freeze({
    host: decodeURIComponent(u.hostname) || 'localhost',
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username) || process.env.USER || 'postgres',
    password: u.password ? decodeURIComponent(u.password) : undefined,
    database,
    sslmode: u.searchParams.get('sslmode') ?? undefined,
  });
}

/** The live database's target: DATABASE_URL, or the embedded cluster (started on demand). */
export async function resolveTarget(config: Config): Promise<PgTarget> {
  if (config.databaseUrl !== undefined) return targetFromUrl(config.databaseUrl);
  return ensureEmbeddedCluster(config);
}

export function withDatabase(target: PgTarget, database: string): PgTarget {
  return Object.freeze({ ...target, database });
}

export function clientConfig(target: PgTarget, applicationName = 'nfr'): pg.ClientConfig {
  return {
    host: target.host,
    port: target.port,
    user: target.user,
    password: target.password,
    database: target.database,
    application_name: applicationName,
    connectionTimeoutMillis: 10_000,
    ssl: sslOption(target.sslmode),
  };
}

function sslOption(mode: string | undefined): pg.ClientConfig['ssl'] {
  if (mode === undefined || mode === 'disable' || mode === 'allow' || mode === 'prefer') return undefined;
  if (mode === 'require') return { rejectUnauthorized: false };
  return { rejectUnauthorized: true };
}

/** Opens a client; a failure to connect becomes NfrError('DATABASE') naming the server. */
export async function connect(target: PgTarget, applicationName?: string): Promise<pg.Client> {
  const client = new (await pgDriver()).Client(clientConfig(target, applicationName));
  // A server-side termination (our own swap does this) arrives as an 'error' event on an idle
  // client; without a listener Node would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => {});
    throw new NfrError('DATABASE', `cannot connect to database "${target.database}" at ${target.host}:${target.port} as ${target.user}: ${(err as Error).message}`, { cause: err });
  }
  return client;
}

/**
 * Runs fn in a transaction on `client`: committed when fn resolves, rolled back when it throws.
 * `begin` is the statement that opens it (an isolation level, read only).
 */
export async function transaction<T>(client: pg.ClientBase, fn: () => Promise<T>, begin = 'begin'): Promise<T> {
  await client.query(begin);
  try {
    const result = await fn();
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch(() => {});
    throw err;
  }
}

/** Runs fn in one read-only repeatable-read transaction, so every query sees the same data (and cursors work). */
export function inSnapshot<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  return transaction(client, fn, 'begin isolation level repeatable read read only');
}

/** Runs fn with a fresh client and always closes it. */
export async function withClient<T>(target: PgTarget, fn: (client: pg.Client) => Promise<T>, applicationName?: string): Promise<T> {
  const client = await connect(target, applicationName);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * application_name of the pg_dump/pg_restore sessions we start. If nfr is killed, its child
 * tools can outlive it; recovery finds their sessions by this name and ends them.
 */
export const TOOL_APPLICATION_NAME = 'nfr-tool';

/** Environment for libpq programs: credentials by variable, never argv. */
export function toolEnv(target: PgTarget): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    LANG: process.env.LANG,
    LC_ALL: process.env.LC_ALL,
    TZ: process.env.TZ,
    PGHOST: target.host,
    PGPORT: String(target.port),
    PGUSER: target.user,
    PGPASSWORD: target.password,
    PGDATABASE: target.database,
    PGSSLMODE: target.sslmode,
    PGAPPNAME: TOOL_APPLICATION_NAME,
    PGCONNECT_TIMEOUT: '10',
  };
}

/**
 * A database name as a libpq conninfo string (`dbname='...'`), so a name that starts with `-`
 * or contains `=` is never read as an option or a connection string by pg_dump/pg_restore.
 */
export function conninfoDbname(database: string): string {
  return `dbname='${database.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Server major version, e.g. 15. */
export async function serverMajor(client: pg.ClientBase): Promise<{ major: number; version: string }> {
  const r = await client.query<{ server_version_num: string; server_version: string }>(
    "select current_setting('server_version_num') as server_version_num, current_setting('server_version') as server_version",
  );
  const row = r.rows[0];
  if (!row) throw new NfrError('DATABASE', 'server did not report its version');
  return { major: Math.floor(Number(row.server_version_num) / 10000), version: row.server_version };
}
