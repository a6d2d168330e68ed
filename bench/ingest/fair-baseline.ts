/**
 * The fair baseline for ingestion: what PostgreSQL itself needs to store the rows an ingestion
 * wrote. The tables the first load filled (empty before it, rows after) are exported, then
 * `psql \copy`-ed in one transaction into a second database at the same schema, with the same
 * reference data, indexes, constraints and foreign keys, parents before children. nfr's load does
 * more (parsing, validation, versioning, links resolved to ids), so the ratio says how much of its
 * time is that work rather than storage.
 */
import path from 'node:path';
import type pg from 'pg';
import { escapeIdentifier as id, toolEnv, type PgTarget } from '../../src/postgres/connection.js';
import { runProgram } from '../../src/util/process.js';

export type TableCounts = ReadonlyMap<string, number>;

/** Row counts of every table in `public`. */
export async function tableCounts(client: pg.ClientBase): Promise<TableCounts> {
  const tables = await client.query<{ name: string }>("select tablename as name from pg_tables where schemaname = 'public' order by 1");
  const counts = new Map<string, number>();
  for (const { name } of tables.rows) {
    const r = await client.query<{ n: string }>(`select count(*)::text as n from ${id(name)}`);
    counts.set(name, Number(r.rows[0]?.n ?? 0));
  }
  return counts;
}

/** Tables that were empty before and have rows after: what the load wrote from nothing. */
export function tablesFilled(before: TableCounts, after: TableCounts): string[] {
  return [...after].filter(([t, n]) => n > 0 && (before.get(t) ?? 0) === 0).map(([t]) => t);
}

/** Columns a COPY can write (identity-always and generated columns are PostgreSQL's to fill). */
async function copyColumns(client: pg.ClientBase, table: string): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `select column_name as name from information_schema.columns
      where table_schema = 'public' and table_name = $1 and is_identity = 'NO' and is_generated = 'NEVER'
      order by ordinal_position`,
    [table],
  );
  return r.rows.map((c) => c.name);
}

/** `tables` ordered so that every table comes after the tables its foreign keys point to. */
async function parentsFirst(client: pg.ClientBase, tables: readonly string[]): Promise<string[]> {
  const r = await client.query<{ child: string; parent: string }>(
    `select c.relname as child, p.relname as parent
       from pg_constraint k join pg_class c on c.oid = k.conrelid join pg_class p on p.oid = k.confrelid
      where k.contype = 'f' and c.relname = any($1) and p.relname = any($1) and c.oid <> p.oid`,
    [tables],
  );
  const ordered: string[] = [];
  const visit = (t: string, path: readonly string[]) => {
    if (ordered.includes(t)) return;
    if (path.includes(t)) throw new Error(`foreign keys form a cycle: ${[...path, t].join(' -> ')}`);
    for (const e of r.rows) if (e.child === t) visit(e.parent, [...path, t]);
    ordered.push(t);
  };
  for (const t of tables) visit(t, []);
  return ordered;
}

function quoted(file: string): string {
  return `'${file.replace(/'/g, "''")}'`;
}

export interface FairBaseline {
  readonly seconds: number;
  readonly tables: readonly { readonly table: string; readonly rows: number }[];
}

/**
 * Exports `tables` of `from` to CSV files in `dir`, then times one `psql -1` that `\copy`-s them
 * into `into` (already migrated and holding the same reference data), and checks the counts.
 */
export async function fairCopyBaseline(
  psql: string,
  from: { readonly target: PgTarget; readonly client: pg.ClientBase },
  into: { readonly target: PgTarget; readonly client: pg.ClientBase },
  tables: readonly string[],
  dir: string,
): Promise<FairBaseline> {
  const ordered = await parentsFirst(from.client, tables);
  const plan: { table: string; columns: string; file: string }[] = [];
  for (const table of ordered) plan.push({ table, columns: (await copyColumns(from.client, table)).map(id).join(', '), file: path.join(dir, `fair-${table}.csv`) });
  const exports = plan.flatMap((p) => ['-c', `\\copy (select ${p.columns} from ${id(p.table)}) to ${quoted(p.file)} with (format csv)`]);
  await runProgram(psql, ['-X', '-v', 'ON_ERROR_STOP=1', ...exports], { env: toolEnv(from.target) });

  await into.client.query('checkpoint');
  const loads = plan.flatMap((p) => ['-c', `\\copy ${id(p.table)} (${p.columns}) from ${quoted(p.file)} with (format csv)`]);
  const started = performance.now();
  await runProgram(psql, ['-X', '-1', '-v', 'ON_ERROR_STOP=1', ...loads], { env: toolEnv(into.target) });
  const seconds = (performance.now() - started) / 1000;

  const sourceCounts = await tableCounts(from.client);
  const loaded = await tableCounts(into.client);
  const result = ordered.map((table) => ({ table, rows: loaded.get(table) ?? 0 }));
  for (const { table, rows } of result) {
    if (rows !== sourceCounts.get(table)) throw new Error(`the fair baseline loaded ${rows} rows into ${table}, expected ${sourceCounts.get(table)}`);
  }
  return { seconds, tables: result };
}
