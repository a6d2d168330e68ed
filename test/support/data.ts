/** Test data written straight into the schema, and fingerprints of a database's contents. */
import pg from 'pg';
import { targetFromUrl } from '../../src/postgres/connection.js';
import { migrateToHead } from '../../src/postgres/migrate.js';

/** Runs fn with a fresh client on `url` and always closes it. */
export async function withUrl<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Migrates the database and fills functions and controls (text varied enough to be realistic). */
export async function seed(url: string, options: { functions?: number; controls?: number; tag?: string } = {}): Promise<void> {
  await migrateToHead(targetFromUrl(url));
  const functions = options.functions ?? 20;
  const controls = options.controls ?? 500;
  const tag = options.tag ?? 'v1';
  await withUrl(url, async (c) => {
    await c.query('begin');
    await c.query(`insert into src_orgs_ref_function (function_id) select 'F-' || lpad(g::text, 4, '0') from generate_series(1, $1) g`, [functions]);
    await c.query(
      `insert into src_orgs_ver_function (function_id, id_type, id_status, name)
       select 'F-' || lpad(g::text, 4, '0'), 'function', 'active', 'Function ' || g from generate_series(1, $1) g`,
      [functions],
    );
    await c.query(`insert into src_controls_ref_control (control_id) select 'CTRL-' || lpad(g::text, 6, '0') from generate_series(1, $1) g`, [controls]);
    await c.query(
      `insert into src_controls_ver_control (control_id, title, description, key_control, control_type, frequency, status, owning_function_id, text_hash)
       select 'CTRL-' || lpad(g::text, 6, '0'),
              'Control ' || g || ' ' || $3,
              repeat(md5(g::text || $3), 1 + g % 7) || ' access review, segregation of duties, quoted "text", comma, and' || E'\\n' || 'newline',
              g % 3 = 0,
              (array['preventative','detective','corrective'])[1 + g % 3],
              (array['daily','weekly','monthly','quarterly','annual'])[1 + g % 5],
              'active',
              'F-' || lpad((1 + g % $2)::text, 4, '0'),
              md5('text' || g || $3)
         from generate_series(1, $1) g`,
      [controls, functions, tag],
    );
    await c.query('commit');
  });
}

/** Changes the data: the kind of mutation a bad load makes. */
export async function mutate(url: string): Promise<void> {
  await withUrl(url, async (c) => {
    await c.query("update src_controls_ver_control set title = title || ' (changed)' where control_id in (select control_id from src_controls_ver_control order by control_id limit 50)");
    await c.query("delete from src_controls_ver_control where control_id in (select control_id from src_controls_ver_control order by control_id desc limit 10)");
    await c.query("insert into src_orgs_ref_function (function_id) values ('F-NEW-1'), ('F-NEW-2')");
    await c.query('create table scratch_after_snapshot (id int primary key)');
  });
}

export interface TableFingerprint {
  readonly rows: number;
  readonly md5: string;
}

/** Row count and an order-independent checksum of every user table's full contents. */
export async function fingerprint(url: string): Promise<Record<string, TableFingerprint>> {
  return withUrl(url, async (c) => {
    const tables = await c.query<{ schema: string; name: string }>(
      `select n.nspname as schema, c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r','p') and n.nspname not in ('pg_catalog','information_schema') and n.nspname not like 'pg\\_toast%'
        order by 1, 2`,
    );
    const out: Record<string, TableFingerprint> = {};
    for (const t of tables.rows) {
      const q = `${pg.escapeIdentifier(t.schema)}.${pg.escapeIdentifier(t.name)}`;
      const r = await c.query<{ n: string; h: string | null }>(`select count(*)::text as n, md5(coalesce(string_agg(x::text, '|' order by x::text), '')) as h from ${q} x`);
      out[`${t.schema}.${t.name}`] = { rows: Number(r.rows[0]?.n), md5: r.rows[0]?.h ?? '' };
    }
    return out;
  });
}

export async function query<T extends pg.QueryResultRow = any>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  return withUrl(url, async (c) => (await c.query<T>(sql, params)).rows);
}

/** The URL of the control database beside `url` (`<db>_nfr`), where jobs and uploads are recorded. */
export function controlUrl(url: string): string {
  const u = new URL(url);
  u.pathname = `${u.pathname}_nfr`;
  return u.toString();
}

/** Rows of a query on the control database beside `url`; [] when it was never created (nothing was recorded). */
export async function controlQuery<T extends pg.QueryResultRow = any>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const name = `${decodeURIComponent(new URL(url).pathname.slice(1))}_nfr`;
  if ((await query(url, 'select 1 from pg_database where datname = $1', [name])).length === 0) return [];
  return query<T>(controlUrl(url), sql, params);
}
