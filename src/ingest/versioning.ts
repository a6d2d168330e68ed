/**
 * Transaction-time versioning, set-based: a batch is COPYed into a staging table, then a few
 * statements compare it with the current versions and write only what changed.
 *
 *   unchanged (same values)        → nothing written
 *   changed                        → current version closed (tx_to = now()), new one opened
 *   new or re-appearing            → new version opened (identity row created if needed)
 *   missing from the batch         → closed, when the batch is the complete set (closeMissing)
 *
 * History is never deleted. Call inside the transaction that loads the batch, so a rejected
 * batch writes nothing. The staging table must have one row per key (validate duplicates first).
 */
import type pg from 'pg';
import { escapeIdentifier as id } from '../postgres/connection.js';

export interface VersionedEntitySpec {
  /** Identity table, e.g. src_orgs_ref_function. */
  readonly ref: string;
  /** Versioned attribute table, e.g. src_orgs_ver_function. */
  readonly ver: string;
  /** Key column, the same name in ref, ver and staging, e.g. function_id. */
  readonly key: string;
  /** Attribute columns of ver (and staging), excluding key, upload_id, tx_*. */
  readonly columns: readonly string[];
}

export interface VersionCounts {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly closed: number;
}

/**
 * Applies a staging table of complete records to a versioned entity. The keys whose record is new
 * or differs from its current version are found first, in one join, into a temporary table; the
 * writes then touch only those. `beforeWrite` sees that table (one `key` column) while the
 * current versions are still in place: ingestion reads which texts changed from it.
 */
export async function applyVersionedEntities(
  client: pg.ClientBase,
  spec: VersionedEntitySpec,
  staging: string,
  options: { readonly uploadId: string | null; readonly closeMissing: boolean; readonly beforeWrite?: (changedKeys: string) => Promise<void> },
): Promise<VersionCounts> {
  const key = id(spec.key);
  const ref = id(spec.ref);
  const ver = id(spec.ver);
  const stg = id(staging);
  const changedKeys = `nfr_chg_${spec.ver}`;
  const chg = id(changedKeys);
  const cols = spec.columns.map(id);

  // The values themselves are compared (row comparison with is distinct from): exact, and cheaper
  // than building and hashing a JSON array per row (migration 0002 dropped the stored hash).
  await client.query(`drop table if exists ${chg}`);
  await client.query(
    `create temp table ${chg} on commit drop as
     select s.${key} from ${stg} s
       left join ${ver} v on v.${key} = s.${key} and v.tx_to is null
      where v.${key} is null
         or (${cols.map((c) => `v.${c}`).join(', ')}) is distinct from (${cols.map((c) => `s.${c}`).join(', ')})`,
  );
  await options.beforeWrite?.(changedKeys);

  // Rows are written in key order: the key's indexes then grow at their right edge instead of at
  // random pages (a third off a 400k-row load of links, measured).
  await client.query(`insert into ${ref} (${key}) select c.${key} from ${chg} c on conflict (${key}) do nothing`);
  const changed = await client.query(`update ${ver} v set tx_to = now() from ${chg} c where v.${key} = c.${key} and v.tx_to is null`);
  const opened = await client.query(
    `insert into ${ver} (${key}, ${cols.join(', ')}, upload_id, tx_from)
     select s.${key}, ${cols.map((c) => `s.${c}`).join(', ')}, $1, now()
       from ${stg} s
      where exists (select 1 from ${chg} c where c.${key} = s.${key})
      order by s.${key}`,
    [options.uploadId],
  );
  let closed = 0;
  if (options.closeMissing) {
    const r = await client.query(
      `update ${ver} v set tx_to = now()
        where v.tx_to is null and not exists (select 1 from ${stg} s where s.${key} = v.${key})`,
    );
    closed = r.rowCount ?? 0;
  }
  const total = await client.query<{ n: string }>(`select count(*)::text as n from ${stg}`);
  const updated = changed.rowCount ?? 0;
  const inserted = (opened.rowCount ?? 0) - updated;
  return { inserted, updated, unchanged: Number(total.rows[0]?.n ?? 0) - inserted - updated, closed };
}

export interface RelationSpec {
  /** Relation table, e.g. src_orgs_rel_function_child. */
  readonly table: string;
  /** The two key columns, e.g. parent_id and child_id. */
  readonly a: string;
  readonly b: string;
}

export interface RelationCounts {
  readonly opened: number;
  readonly closed: number;
  readonly unchanged: number;
}

/**
 * Applies a staging table of (a, b) pairs to a relation. `scope` says which current pairs the
 * batch is complete for: 'all' (the batch is the whole relation, as a context provider folder
 * is), 'batch-a' (complete for every `a` that appears in `scopeTable`, as a controls upload is
 * for the controls it contains), or 'none' (only add).
 */
export async function applyRelations(
  client: pg.ClientBase,
  spec: RelationSpec,
  staging: string,
  options: { readonly uploadId: string | null; readonly scope: 'all' | 'batch-a' | 'none'; readonly scopeTable?: string; readonly scopeKey?: string },
): Promise<RelationCounts> {
  const t = id(spec.table);
  const a = id(spec.a);
  const b = id(spec.b);
  const stg = id(staging);
  let closed = 0;
  if (options.scope !== 'none') {
    const inScope =
      options.scope === 'all'
        ? ''
        : `and exists (select 1 from ${id(options.scopeTable ?? staging)} sc where sc.${id(options.scopeKey ?? spec.a)} = r.${a})`;
    const r = await client.query(
      `update ${t} r set tx_to = now()
        where r.tx_to is null ${inScope}
          and not exists (select 1 from ${stg} s where s.${a} = r.${a} and s.${b} = r.${b})`,
    );
    closed = r.rowCount ?? 0;
  }
  const opened = await client.query(
    `insert into ${t} (${a}, ${b}, upload_id, tx_from)
     select distinct s.${a}, s.${b}, $1::text, now() from ${stg} s
      where not exists (select 1 from ${t} r where r.${a} = s.${a} and r.${b} = s.${b} and r.tx_to is null)
      order by s.${a}, s.${b}`,
    [options.uploadId],
  );
  // count(distinct (a, b)) sorts row values; counting a distinct subquery hashes plain columns.
  const total = await client.query<{ n: string }>(`select count(*)::text as n from (select distinct s.${a}, s.${b} from ${stg} s) d`);
  const openedCount = opened.rowCount ?? 0;
  return { opened: openedCount, closed, unchanged: Number(total.rows[0]?.n ?? 0) - openedCount };
}
