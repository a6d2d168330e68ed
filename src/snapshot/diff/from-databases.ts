/**
 * The diff of two databases that share no history (a scratch restore or a warm copy of the
 * snapshot against live, or two such copies): both sides' current versions are read in id order,
 * in batches, and merged. It reads every current version once, never holding more than a batch.
 */
import type pg from 'pg';
import { escapeIdentifier } from '../../postgres/connection.js';
import { compareIds, differingAttributes, type ChangeCounts, type DiffItem, type EntityChanges, type PageRequest } from './changes.js';
import { META_COLUMNS, type DiffChange, type EntityTable } from './entities.js';

const BATCH = 5000;

interface Row {
  readonly id: string;
  readonly attrs: Record<string, unknown>;
}

/** The current versions of one entity, in id order (byte order), a batch at a time. */
async function* currentVersions(client: pg.ClientBase, e: EntityTable): AsyncGenerator<Row> {
  const exists = await client.query('select to_regclass($1) is not null as ok', [e.table]);
  if (!exists.rows[0]?.ok) return;
  const t = escapeIdentifier(e.table);
  const k = escapeIdentifier(e.key);
  let after: string | null = null;
  for (;;) {
    const r: pg.QueryResult<Row> = await client.query<Row>(
      `select v.${k} as id, to_jsonb(v) - $1::text[] as attrs from ${t} v
        where v.tx_to is null and ($2::text is null or v.${k} collate "C" > $2::text collate "C")
        order by v.${k} collate "C" limit ${BATCH}`,
      [[...META_COLUMNS], after],
    );
    for (const row of r.rows) yield row;
    if (r.rows.length < BATCH) return;
    after = r.rows[r.rows.length - 1]?.id ?? null;
  }
}

export async function changesBetweenDatabases(snapshotDb: pg.ClientBase, toDb: pg.ClientBase, e: EntityTable, page: PageRequest): Promise<EntityChanges> {
  const counts: ChangeCounts = { removes: 0, brings_back: 0, reverts: 0 };
  const items: DiffItem[] = [];
  const record = (change: DiffChange, id: string, attributes?: DiffItem['attributes']) => {
    counts[change] += 1;
    if (items.length > page.limit || (page.change !== null && change !== page.change)) return;
    if (page.after !== null && compareIds(id, page.after) <= 0) return;
    items.push(attributes ? { entity: e.entity, change, id, attributes } : { entity: e.entity, change, id });
  };
  const s = currentVersions(snapshotDb, e);
  const o = currentVersions(toDb, e);
  let a = await s.next();
  let b = await o.next();
  while (!a.done || !b.done) {
    const order = a.done ? 1 : b.done ? -1 : compareIds(a.value.id, b.value.id);
    if (order < 0 && !a.done) {
      record('brings_back', a.value.id);
      a = await s.next();
    } else if (order > 0 && !b.done) {
      record('removes', b.value.id);
      b = await o.next();
    } else if (!a.done && !b.done) {
      const attributes = differingAttributes(a.value.attrs, b.value.attrs);
      if (attributes.length > 0) record('reverts', a.value.id, attributes);
      a = await s.next();
      b = await o.next();
    }
  }
  return { counts, items };
}
