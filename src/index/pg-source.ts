/**
 * What the index is built from: current controls streamed from PostgreSQL through a cursor,
 * the embeddings enrichment already stored for them, and a cheap signature of the controls tables
 * that tells search whether the index is older than the data.
 */
import type pg from 'pg';
import { payloadHash, type PointPayload } from './types.js';

export interface SourceControl {
  readonly control_id: string;
  readonly title: string;
  readonly description: string | null;
  readonly payload: PointPayload;
}

interface ControlRow {
  control_id: string;
  title: string;
  description: string | null;
  status: string | null;
  owning_function_id: string | null;
  owning_location_id: string | null;
  family_id: string | null;
  key_control: boolean | null;
  text_hash: string;
  risk_theme_ids: string[];
}

/**
 * Current controls (tx_to is null), whatever their status: a retired or inactive control is still
 * a control people search for, so it is indexed with its status in the payload.
 *
 * Streamed through a cursor inside the caller's transaction (inSnapshot, postgres/connection.ts),
 * `batchSize` rows at a time. A cursor rather than keyset pages: on a freshly loaded table without statistics,
 * PostgreSQL plans each `control_id > $last ... limit` page as a bitmap scan plus a sort of all
 * remaining rows (measured: 50 ms per 1000-row page at 100k controls, quadratic overall); a cursor
 * is planned once, for a fast start.
 */
export async function* currentControls(client: pg.ClientBase, model: string, batchSize = 1000): AsyncGenerator<SourceControl[]> {
  await client.query(
    `declare nfr_index_controls no scroll cursor for
     select c.control_id, c.title, c.description, c.status, c.owning_function_id, c.owning_location_id, c.family_id, c.key_control, c.text_hash,
            coalesce((select array_agg(t.risk_theme_id order by t.risk_theme_id)
                        from src_controls_rel_risk_theme t
                       where t.control_id = c.control_id and t.tx_to is null), '{}') as risk_theme_ids
       from src_controls_ver_control c
      where c.tx_to is null
      order by c.control_id`,
  );
  try {
    for (;;) {
      const r = await client.query<ControlRow>(`fetch forward ${Math.max(1, Math.floor(batchSize))} from nfr_index_controls`);
      if (r.rows.length === 0) return;
      yield r.rows.map((row) => {
        const base = {
          control_id: row.control_id,
          title: row.title,
          status: row.status,
          owning_function_id: row.owning_function_id,
          risk_theme_ids: row.risk_theme_ids,
          owning_location_id: row.owning_location_id,
          family_id: row.family_id,
          key_control: row.key_control,
          model,
        };
        return { control_id: row.control_id, title: row.title, description: row.description, payload: { ...base, text_hash: row.text_hash, payload_hash: payloadHash(base) } };
      });
    }
  } finally {
    await client.query('close nfr_index_controls').catch(() => {});
  }
}

/** Embeddings enrichment stored for these (control, text hash) pairs with this model and dimension. */
export async function storedEmbeddings(
  client: pg.ClientBase,
  wanted: readonly { control_id: string; text_hash: string }[],
  model: string,
  dimension: number,
): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  if (wanted.length === 0) return out;
  const r = await client.query<{ control_id: string; vector: number[] }>(
    `select e.control_id, e.vector
       from ai_controls_embedding e
       join unnest($1::text[], $2::text[]) as w(control_id, text_hash) using (control_id, text_hash)
      where e.model_name = $3 and e.dimension = $4`,
    [wanted.map((w) => w.control_id), wanted.map((w) => w.text_hash), model, dimension],
  );
  for (const row of r.rows) out.set(row.control_id, Float32Array.from(row.vector));
  return out;
}

const SIGNATURE_SQL = `concat_ws('/',
  (select count(*) || ':' || count(tx_to) || ':' || coalesce(extract(epoch from max(tx_from))::text, '-') || ':' || coalesce(extract(epoch from max(tx_to))::text, '-') from src_controls_ver_control),
  (select count(*) || ':' || count(tx_to) || ':' || coalesce(extract(epoch from max(tx_to))::text, '-') from src_controls_rel_risk_theme))`;

/**
 * What the database shows can only differ from what a statement saw when this differs: the
 * statement's snapshot (which transactions it sees committed: a write committed since, or one in
 * progress then that ended, changes it; reads assign no transaction id and leave it alone), and
 * which database and which server answer (a restore swaps the database in; a new cluster).
 * Constant time, unlike the signature's scans.
 */
const VISIBILITY_SQL = `pg_current_snapshot()::text || '/' || (select oid from pg_database where datname = current_database()) || '/' || pg_postmaster_start_time()`;

/**
 * Changes whenever control ingestion writes anything: every change adds a version row or closes
 * one (history is never deleted), so row counts plus the latest transaction times move forward.
 * One scan of each table; no per-row work.
 */
export async function pgSignature(client: pg.ClientBase): Promise<string> {
  const r = await client.query<{ sig: string }>(`select ${SIGNATURE_SQL} as sig`);
  return r.rows[0]?.sig ?? '';
}

/** pgSignature and, from the same snapshot, its visibility (pgVisibility): the signature holds while that is unchanged. */
export async function pgSignatureVisibility(client: pg.ClientBase): Promise<{ signature: string; visibility: string }> {
  const r = await client.query<{ sig: string; vis: string }>(`select ${SIGNATURE_SQL} as sig, ${VISIBILITY_SQL} as vis`);
  return { signature: r.rows[0]?.sig ?? '', visibility: r.rows[0]?.vis ?? '' };
}

/** A new statement's visibility (see VISIBILITY_SQL): equal to a reading's, that reading's signature still holds. */
export async function pgVisibility(client: pg.ClientBase): Promise<string> {
  const r = await client.query<{ vis: string }>({ name: 'nfr-visibility', text: `select ${VISIBILITY_SQL} as vis` });
  return r.rows[0]?.vis ?? '';
}
