/**
 * The history mark a manifest records: the high-water mark of the transaction-time history (the
 * latest tx_from or tx_to of any version) and a digest of the history up to it. History is only
 * ever appended to and closed, never rewritten, so a live database descends from the snapshot
 * exactly when its history, seen as of the mark, has the same digest: then the snapshot's state
 * of every entity can be read from the live history, as of the mark, without restoring anything.
 * A restore of an older snapshot, or another database, changes what the history held at the mark
 * and so the digest.
 *
 * The digest is built from sums, not from hashing rows, so it costs one scan of each versioned
 * table with no sort: count, Σ version_id, Σ tx_from, and Σ tx_to of the versions closed by then.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { z } from 'zod';
import { escapeIdentifier } from '../../postgres/connection.js';
import type { historyMarkSchema } from '../manifest.js';
import { DIFF_ENTITIES } from './entities.js';

/** Defined once, in snapshot/manifest.ts (the manifest records it). */
export type HistoryMark = Readonly<z.infer<typeof historyMarkSchema>>;

/** The mark of a database's whole history, read in the caller's transaction (create's exported snapshot). */
export async function readHistoryMark(client: pg.ClientBase): Promise<HistoryMark> {
  const tables = await existingTables(client);
  if (tables.length === 0) return { high_water: null, digest: digestOf([]) };
  const r = await client.query<{ high_water: string | null }>(
    `select to_char(max(m) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as high_water
       from (${tables.map((t) => `select greatest(max(tx_from), max(tx_to)) as m from ${escapeIdentifier(t)}`).join(' union all ')}) x`,
  );
  const highWater = r.rows[0]?.high_water ?? null;
  return { high_water: highWater, digest: await historyDigest(client, highWater) };
}

/** True when the database's history as of the mark is the one the mark was taken of. */
export async function descendsFrom(client: pg.ClientBase, mark: HistoryMark): Promise<boolean> {
  return (await historyDigest(client, mark.high_water)) === mark.digest;
}

/** The digest of the history as of `at` (null: before any history). */
async function historyDigest(client: pg.ClientBase, at: string | null): Promise<string> {
  const parts: string[] = [];
  for (const table of await existingTables(client)) {
    const t = escapeIdentifier(table);
    const r = await client.query<{ n: string; ids: string | null; froms: string | null; tos: string | null }>(
      `select count(*)::text as n, sum(version_id)::text as ids,
              sum(extract(epoch from tx_from) * 1000000)::text as froms,
              sum(extract(epoch from tx_to) * 1000000) filter (where tx_to <= $1::timestamptz)::text as tos
         from ${t} where tx_from <= $1::timestamptz`,
      [at ?? '-infinity'],
    );
    const row = r.rows[0];
    parts.push(`${table}:${row?.n ?? 0}:${row?.ids ?? 0}:${row?.froms ?? 0}:${row?.tos ?? 0}`);
  }
  return digestOf(parts);
}

function digestOf(parts: readonly string[]): string {
  return `sha256:${createHash('sha256').update(parts.join('\n')).digest('hex')}`;
}

async function existingTables(client: pg.ClientBase): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname = current_schema() and c.relkind in ('r', 'p') and c.relname = any($1::text[]) order by c.relname`,
    [DIFF_ENTITIES.map((e) => e.table)],
  );
  return r.rows.map((row) => row.name);
}
