/**
 * The staging side of control ingestion: the temporary tables one batch is COPYed into, the
 * reference check each row gets as it streams by (unknown functions, locations, risk themes), and
 * the set-based checks that need the whole file (duplicate ids, parent controls). Those write
 * `(line, field, message)` rows into the errors table, so a report can name the CSV line of each
 * problem.
 */
import type pg from 'pg';
import { escapeIdentifier } from '../postgres/connection.js';
import type { ControlColumn, ControlRow, RowError } from './controls-csv.js';
import { controlText, textHash } from './text.js';

export const STAGING = 'nfr_stg_controls';
export const ERRORS = 'nfr_stg_errors';
/** Ids of rejected rows: --close-missing must not close a control only because its row was bad. */
export const REJECTED_IDS = 'nfr_stg_rejected_ids';

/** Creates the batch's temporary tables; they vanish with the transaction. */
export async function createStagingTables(client: pg.ClientBase): Promise<void> {
  await client.query(`
    create temp table ${STAGING} (
      line int not null, control_id text, title text, description text, parent_control_id text,
      family_id text, family text, key_control boolean, control_type text, execution text,
      frequency text, status text, owner text, effective_date date, review_date date,
      sox_relevant boolean, gdpr_relevant boolean, regulatory_references text[],
      owning_function_id text, owning_location_id text, related_function_ids text[],
      related_location_ids text[], risk_theme_ids text[], text_hash text, rejected boolean not null
    ) on commit drop`);
  await client.query(`create temp table ${ERRORS} (line int not null, field text not null, message text not null) on commit drop`);
  await client.query(`create temp table ${REJECTED_IDS} (control_id text primary key) on commit drop`);
}

/** The link-list columns and the relation table holding the current links of each. */
const LINK_COLUMNS = {
  related_function_ids: { table: 'src_controls_rel_related_function', id: 'function_id' },
  related_location_ids: { table: 'src_controls_rel_related_location', id: 'location_id' },
  risk_theme_ids: { table: 'src_controls_rel_risk_theme', id: 'risk_theme_id' },
} as const satisfies Partial<Record<ControlColumn, { table: string; id: string }>>;

/** Rows re-hashed per round trip when a file without `description` changes titles. */
const REHASH_BATCH = 2000;

/**
 * A column the file leaves out means "not provided, keep what is there" (README, Controls CSV):
 * every staged row of an existing control takes the current value, or the current links, for
 * each absent column; new controls get the defaults. An empty cell of a present column is what
 * clears a value. Without `description`, the text hash of a control whose title changed is
 * computed again from the kept description.
 */
export async function keepAbsentColumns(client: pg.ClientBase, absent: readonly ControlColumn[]): Promise<void> {
  const attributes = absent.filter((c) => c !== 'control_id' && c !== 'title' && !(c in LINK_COLUMNS));
  if (attributes.length > 0) {
    const keepHash = attributes.includes('description') ? ', text_hash = case when s.title = v.title then v.text_hash end' : '';
    await client.query(
      `update ${STAGING} s set ${attributes.map((c) => `${escapeIdentifier(c)} = v.${escapeIdentifier(c)}`).join(', ')}${keepHash}
         from src_controls_ver_control v
        where v.control_id = s.control_id and v.tx_to is null and not s.rejected`,
    );
    if (keepHash) await rehashChangedTitles(client);
  }
  for (const column of absent) {
    if (!(column in LINK_COLUMNS)) continue;
    const rel = LINK_COLUMNS[column as keyof typeof LINK_COLUMNS];
    // Sorted as validation sorts a given list, so unchanged links compare equal.
    await client.query(
      `update ${STAGING} s
          set ${escapeIdentifier(column)} = coalesce((select array_agg(r.${escapeIdentifier(rel.id)} order by r.${escapeIdentifier(rel.id)} collate "C")
                                                      from ${escapeIdentifier(rel.table)} r where r.control_id = s.control_id and r.tx_to is null), '{}')
        where not s.rejected`,
    );
  }
}

/** Staged rows left without a text hash by keepAbsentColumns get it from their title and kept description. */
async function rehashChangedTitles(client: pg.ClientBase): Promise<void> {
  for (;;) {
    const r = await client.query<{ line: number; title: string; description: string | null }>(
      `select line, title, description from ${STAGING} where text_hash is null and not rejected limit $1`,
      [REHASH_BATCH],
    );
    if (r.rows.length === 0) return;
    await client.query(
      `update ${STAGING} s set text_hash = h.hash from unnest($1::int[], $2::text[]) as h(line, hash) where s.line = h.line`,
      [r.rows.map((x) => x.line), r.rows.map((x) => textHash(controlText(x.title, x.description)))],
    );
  }
}

/** Ids a row may reference: the current functions, locations and risk themes. */
export interface KnownReferences {
  readonly function: ReadonlySet<string>;
  readonly location: ReadonlySet<string>;
  readonly 'risk theme': ReadonlySet<string>;
}

/** A reference column and what it names; a list column holds several ids. */
const REFERENCE_CHECKS = [
  { field: 'owning_function_id', what: 'function' },
  { field: 'owning_location_id', what: 'location' },
  { field: 'related_function_ids', what: 'function' },
  { field: 'related_location_ids', what: 'location' },
  { field: 'risk_theme_ids', what: 'risk theme' },
] as const satisfies readonly { field: keyof ControlRow; what: keyof KnownReferences }[];

/**
 * Reads the ids rows may reference, once per batch. Checking each row against these sets while
 * it streams by costs nothing; the set-based checks they replace scanned the staged batch five
 * times (1 s for 200k rows). The sets are as large as the reference tables, not the file, and
 * cannot change under the batch: context ingestion, which writes them, holds the same lock.
 */
export async function loadKnownReferences(client: pg.ClientBase): Promise<KnownReferences> {
  const ids = async (sql: string) => new Set((await client.query<[string]>({ text: sql, rowMode: 'array' })).rows.map((r) => r[0]));
  return {
    function: await ids('select function_id from src_orgs_ver_function where tx_to is null'),
    location: await ids('select location_id from src_orgs_ver_location where tx_to is null'),
    'risk theme': await ids('select risk_theme_id from src_risks_ver_theme where tx_to is null'),
  };
}

/** The references of a valid row that name no current function, location or risk theme. */
export function unknownReferences(row: ControlRow, line: number, known: KnownReferences): RowError[] {
  let errors: RowError[] | undefined;
  for (const c of REFERENCE_CHECKS) {
    const v = row[c.field];
    for (const id of v === null ? [] : typeof v === 'string' ? [v] : v) {
      if (!known[c.what].has(id)) (errors ??= []).push({ line, field: c.field, message: `unknown ${c.what} ${id}: no current ${c.what} has this id` });
    }
  }
  return errors ?? [];
}

/**
 * Runs the set-based checks, then removes the rows with a problem (and the rows rejected while
 * parsing or for an unknown reference) from staging, remembering their control ids. Parent
 * references and parent cycles are checked last and repeatedly: a row whose parent row was just
 * rejected is rejected too.
 */
export async function checkStaged(client: pg.ClientBase, options: { readonly closeMissing: boolean; readonly rejectedWhileParsing: boolean }): Promise<void> {
  // Every occurrence of a duplicated id is rejected: which one was meant is anybody's guess.
  await client.query(`
    with dup as (select control_id from ${STAGING} where control_id is not null group by control_id having count(*) > 1),
         occ as (select s.line, s.control_id, s.rejected from ${STAGING} s join dup using (control_id)),
         agg as (select control_id, count(*) as n, array_to_string((array_agg(line order by line))[1:10], ', ') as lines from occ group by control_id)
    insert into ${ERRORS} (line, field, message)
    select o.line, 'control_id', format('duplicate control_id %s: it appears %s times in the file (lines %s)', o.control_id, a.n, a.lines)
      from occ o join agg a using (control_id)
     where not o.rejected`);

  // Removing scans the whole batch; a clean one (the usual case) has nothing to remove.
  if (options.rejectedWhileParsing || (await hasErrors(client))) await removeRejected(client);

  for (;;) {
    if ((await unknownParents(client, options.closeMissing)) === 0 && (await parentCycles(client)) === 0) break;
    await removeRejected(client);
  }
}

/** Rows whose parent is neither a valid row of the file nor (without --close-missing) a current control. */
async function unknownParents(client: pg.ClientBase, closeMissing: boolean): Promise<number> {
  const r = await client.query(
    `insert into ${ERRORS} (line, field, message)
     select s.line, 'parent_control_id',
            format('unknown parent control %s: it is not a valid row of this file%s', s.parent_control_id,
                   case when $1 then ' (with --close-missing the parent must be in the file)' else ' nor a current control' end)
       from ${STAGING} s
      where s.parent_control_id is not null
        and not exists (select 1 from ${STAGING} p where p.control_id = s.parent_control_id)
        and ($1 or not exists (select 1 from src_controls_ver_control v where v.control_id = s.parent_control_id and v.tx_to is null))`,
    [closeMissing],
  );
  return r.rowCount ?? 0;
}

/**
 * The parent links once the batch is written (the rows' own, and those of current controls the
 * file does not name), and every walk up them from a staged row, stopping where it comes back to
 * its start or would repeat.
 */
const PARENT_WALK = `
  with recursive parent_of (control_id, parent_control_id) as (
    select control_id, parent_control_id from ${STAGING} where parent_control_id is not null
    union all
    select v.control_id, v.parent_control_id from src_controls_ver_control v
     where v.tx_to is null and v.parent_control_id is not null
       and not exists (select 1 from ${STAGING} s where s.control_id = v.control_id)),
  walk (start, node, path) as (
    select p.control_id, p.parent_control_id, array[p.control_id, p.parent_control_id]
      from parent_of p join ${STAGING} s on s.control_id = p.control_id
    union all
    select w.start, p.parent_control_id, w.path || p.parent_control_id
      from walk w join parent_of p on p.control_id = w.node
     where w.node <> w.start and not p.parent_control_id = any (w.path[2:]))`;

/**
 * Whether a staged row gives its control a parent its current version does not have. The current
 * controls have no parent cycle (every batch is checked before it is written), so only such a row
 * can close one: a file that keeps every parent, as an unchanged one does, needs no walk (which
 * builds every link and walks every row up to its root, 1-3 s for 200k rows), only index lookups
 * for the rows that have a parent.
 */
async function hasNewParent(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query<{ found: boolean }>(
    `select exists (
       select 1 from ${STAGING} s
        where s.parent_control_id is not null
          and not exists (select 1 from src_controls_ver_control v
                           where v.control_id = s.control_id and v.tx_to is null and v.parent_control_id = s.parent_control_id)) as found`,
  );
  return r.rows[0]?.found === true;
}

/**
 * Rows that would be their own ancestor once the batch is written: the parents are the rows' own,
 * and those of current controls the file does not name (a cycle may run through the database, as
 * PC-1 → PC-2 in the file and PC-2 → PC-1 current). Every row on a cycle is rejected, its error
 * naming the whole cycle with the line of each control of the file.
 */
async function parentCycles(client: pg.ClientBase): Promise<number> {
  if (!(await hasNewParent(client))) return 0;
  const r = await client.query(
    `${PARENT_WALK}
     insert into ${ERRORS} (line, field, message)
     select s.line, 'parent_control_id',
            'parent cycle: '
            || (select string_agg(c.id || coalesce(' (line ' || x.line || ')', ' (current)'), ' → ' order by c.n)
                  from unnest(w.path) with ordinality as c (id, n)
                  left join ${STAGING} x on x.control_id = c.id
                 where c.n < cardinality(w.path))
            || ' → ' || w.start || '; a control cannot be its own ancestor'
       from walk w join ${STAGING} s on s.control_id = w.start
      where w.node = w.start`,
  );
  return r.rowCount ?? 0;
}

async function hasErrors(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query<{ any: boolean }>(`select exists (select 1 from ${ERRORS}) as any`);
  return r.rows[0]?.any === true;
}

async function removeRejected(client: pg.ClientBase): Promise<void> {
  await client.query(`
    with gone as (
      delete from ${STAGING} s
       where s.rejected or exists (select 1 from ${ERRORS} e where e.line = s.line)
      returning s.control_id)
    insert into ${REJECTED_IDS} (control_id)
    select distinct control_id from gone where control_id is not null
    on conflict do nothing`);
}

/** Number of problems found by the set-based checks, and the first `limit` of them by line. */
export async function stagedErrors(client: pg.ClientBase, limit: number): Promise<{ count: number; first: RowError[] }> {
  const n = await client.query<{ n: number }>(`select count(*)::int as n from ${ERRORS}`);
  const r = await client.query<RowError>(`select line, field, message from ${ERRORS} order by line, field, message limit $1`, [limit]);
  return { count: n.rows[0]?.n ?? 0, first: r.rows };
}

/** Rows left in staging (the valid ones, once checkStaged ran). */
export async function stagedCount(client: pg.ClientBase): Promise<number> {
  const r = await client.query<{ n: number }>(`select count(*)::int as n from ${STAGING}`);
  return r.rows[0]?.n ?? 0;
}

/**
 * Controls whose text hash differs from their current version (new controls included): the ones
 * enrichment and the index must recompute. Only the keys in `changedKeys` (a table of the
 * control_ids whose record changed, see applyVersionedEntities) can qualify. Call before the
 * versions are written.
 */
export async function textChanges(client: pg.ClientBase, changedKeys: string, limit: number): Promise<{ count: number; controlIds: string[] }> {
  const r = await client.query<{ n: number; ids: string[] | null }>(
    `with c as (
       select s.control_id from ${escapeIdentifier(changedKeys)} k
         join ${STAGING} s on s.control_id = k.control_id
         left join src_controls_ver_control v on v.control_id = s.control_id and v.tx_to is null
        where v.text_hash is distinct from s.text_hash)
     select (select count(*)::int from c) as n, (select array_agg(control_id) from (select control_id from c order by control_id limit $1) l) as ids`,
    [limit],
  );
  return { count: r.rows[0]?.n ?? 0, controlIds: r.rows[0]?.ids ?? [] };
}
