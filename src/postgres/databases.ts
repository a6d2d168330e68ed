/**
 * Whole-database operations on a server: the derived database names a restore uses, create
 * like another, drop, list, and exact row counts of every table.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { escapeIdentifier } from './connection.js';

/**
 * `discard`: the database a spare restore replaced the kept one with is renamed to it (instant)
 * and dropped off the restore's critical path (snapshot/discard.ts).
 */
export type DerivedRole = 'staging' | 'prev' | 'swap' | 'verify' | 'warming' | 'diff' | 'diffto' | 'sparing' | 'discard';

/**
 * Name of a database derived from the live one: `<live>__nfr_staging` and friends. Long names are
 * shortened with a hash so the result stays within PostgreSQL's 63-byte limit and unique.
 */
export function derivedDatabaseName(live: string, role: DerivedRole): string {
  const base = Buffer.byteLength(live) <= 40 ? live : `${Buffer.from(live).subarray(0, 30).toString('utf8').replace(/\uFFFD/g, '')}_${createHash('sha256').update(live).digest('hex').slice(0, 8)}`;
  return `${base}__nfr_${role}`;
}

export interface DatabaseInfo {
  readonly name: string;
  readonly encoding: string;
  readonly collate: string;
  readonly ctype: string;
  readonly allowConnections: boolean;
  readonly sizeBytes: number;
}

export async function databaseInfo(client: pg.ClientBase, name: string): Promise<DatabaseInfo | undefined> {
  const r = await client.query<{ datname: string; encoding: string; datcollate: string; datctype: string; datallowconn: boolean; size: string }>(
    `select datname, pg_encoding_to_char(encoding) as encoding, datcollate, datctype, datallowconn,
            pg_database_size(oid)::text as size
       from pg_database where datname = $1`,
    [name],
  );
  const row = r.rows[0];
  if (!row) return undefined;
  return {
    name: row.datname,
    encoding: row.encoding,
    collate: row.datcollate,
    ctype: row.datctype,
    allowConnections: row.datallowconn,
    sizeBytes: Number(row.size),
  };
}

export async function databaseExists(client: pg.ClientBase, name: string): Promise<boolean> {
  const r = await client.query('select 1 from pg_database where datname = $1', [name]);
  return (r.rowCount ?? 0) > 0;
}

/** Databases whose name ends with one of the derived suffixes of `live`. */
export async function derivedDatabases(client: pg.ClientBase, live: string): Promise<{ name: string; role: DerivedRole }[]> {
  const roles: DerivedRole[] = ['staging', 'prev', 'swap', 'verify', 'warming', 'diff', 'diffto', 'sparing', 'discard'];
  const names = roles.map((role) => derivedDatabaseName(live, role));
  const r = await client.query<{ datname: string }>('select datname from pg_database where datname = any($1::text[])', [names]);
  return r.rows.map((row) => ({ name: row.datname, role: roles[names.indexOf(row.datname)] as DerivedRole }));
}

/**
 * Every database named like a transient leftover (staging, verify, ...) of any live database on
 * the server; `discard` marks a replaced database waiting for its drop off a restore's critical
 * path (expected for a moment after a spare restore, not a leftover of an interrupted one), with
 * its size (0 if it went meanwhile).
 */
export async function leftoverStagingDatabases(client: pg.ClientBase): Promise<{ name: string; discard: boolean; sizeBytes: number }[]> {
  const r = await client.query<{ datname: string }>(
    "select datname from pg_database where datname like '%\\_\\_nfr\\_staging' or datname like '%\\_\\_nfr\\_verify' or datname like '%\\_\\_nfr\\_warming' or datname like '%\\_\\_nfr\\_diff' or datname like '%\\_\\_nfr\\_diffto' or datname like '%\\_\\_nfr\\_sparing' or datname like '%\\_\\_nfr\\_discard' order by datname",
  );
  const found: { name: string; discard: boolean; sizeBytes: number }[] = [];
  for (const { datname } of r.rows) {
    const discard = datname.endsWith('__nfr_discard');
    // Being dropped right now, it may be gone by the time its size is asked for.
    const sizeBytes = discard ? ((await databaseInfo(client, datname).catch(() => undefined))?.sizeBytes ?? 0) : 0;
    found.push({ name: datname, discard, sizeBytes });
  }
  return found;
}

/**
 * Renames a database that nobody may use (its sessions are ended first; a rename needs it
 * unused). ALTER DATABASE ... RENAME changes the catalog only: instant whatever the size.
 */
export async function renameUnusedDatabase(client: pg.ClientBase, from: string, to: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    await client.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()', [from]);
    try {
      await client.query(`alter database ${escapeIdentifier(from)} rename to ${escapeIdentifier(to)}`);
      return;
    } catch (err) {
      // 55006: a terminated session has not exited yet.
      if ((err as { code?: string }).code !== '55006' || attempt >= 50) throw err;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** Creates an empty database with the encoding and locale of `like` (template0, so nothing leaks in). */
export async function createDatabaseLike(client: pg.ClientBase, name: string, like: Pick<DatabaseInfo, 'encoding' | 'collate' | 'ctype'> | undefined): Promise<void> {
  let sql = `create database ${escapeIdentifier(name)} template template0`;
  if (like) {
    sql += ` encoding ${client.escapeLiteral(like.encoding)} lc_collate ${client.escapeLiteral(like.collate)} lc_ctype ${client.escapeLiteral(like.ctype)}`;
  }
  await client.query(sql);
}

/**
 * Creates `name` as a file copy of the template `template` (PostgreSQL 15 `STRATEGY FILE_COPY`:
 * the template's files are copied, no WAL is written per block, no index is rebuilt).
 */
export async function cloneDatabase(client: pg.ClientBase, name: string, template: string): Promise<void> {
  await client.query(`create database ${escapeIdentifier(name)} template ${escapeIdentifier(template)} strategy file_copy`);
}

/** Drops a database, ending its sessions first (PostgreSQL 13+ `WITH (FORCE)`). */
export async function dropDatabase(client: pg.ClientBase, name: string): Promise<void> {
  await client.query(`drop database if exists ${escapeIdentifier(name)} with (force)`);
}

export interface TableRef {
  readonly schema: string;
  readonly name: string;
}

/** User tables of the connected database (regular and partitioned), sorted. */
export async function listTables(client: pg.ClientBase): Promise<TableRef[]> {
  const r = await client.query<{ schema: string; name: string }>(
    `select n.nspname as schema, c.relname as name
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p')
        and n.nspname not in ('pg_catalog', 'information_schema')
        and n.nspname not like 'pg\\_toast%' and n.nspname not like 'pg\\_temp%'
      order by 1, 2`,
  );
  return r.rows;
}

/** Exact row count of one table. */
export async function countRows(client: pg.ClientBase, table: TableRef): Promise<number> {
  const r = await client.query<{ n: string }>(`select count(*)::text as n from only ${escapeIdentifier(table.schema)}.${escapeIdentifier(table.name)}`);
  return Number(r.rows[0]?.n ?? 0);
}
