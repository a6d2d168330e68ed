/**
 * SQL of an enrichment run: which current controls still lack an output of the current model
 * versions (keyset-paginated), and set-based writes of a batch's outputs (COPY into temp
 * tables, then one INSERT … SELECT per table).
 */
import type pg from 'pg';
import { copyRows, type CopyValue } from '../postgres/copy.js';

/** A model's identity as stored with its outputs. */
export interface ModelId {
  readonly name: string;
  readonly version: string;
}

export interface RunModels {
  readonly embedding: ModelId;
  readonly enrichment: ModelId;
  readonly featurePrep: ModelId;
  /** Undefined when there are no current themes: mapping is skipped and not waited for. */
  readonly taxonomy: ModelId | undefined;
}

/** A current control with the outputs it still needs. */
export interface PendingControl {
  readonly control_id: string;
  readonly text_hash: string;
  readonly title: string;
  readonly description: string | null;
  readonly need_embedding: boolean;
  /** The stored vector by the current embedder when another model needs it (reused, not recomputed). */
  readonly vector: number[] | null;
  readonly need_enrichment: boolean;
  readonly need_feature_prep: boolean;
  readonly need_taxonomy: boolean;
}

/** Temp tables of one run; dropped at commit. */
export async function createStagingTables(client: pg.ClientBase): Promise<void> {
  await client.query(`
    create temp table enrich_stage_embedding (control_id text not null, text_hash text not null, vector real[] not null) on commit drop;
    create temp table enrich_stage_enrichment (control_id text not null, text_hash text not null, summary text not null, keywords text[] not null) on commit drop;
    create temp table enrich_stage_feature_prep (control_id text not null, text_hash text not null, normalised_text text not null) on commit drop;
    create temp table enrich_stage_taxonomy (control_id text not null, text_hash text not null, risk_theme_id text not null, score real not null, rank integer not null) on commit drop;
  `);
}

/**
 * Refreshes planner statistics of the control versions. Right after a bulk ingest they often
 * have none, and then PostgreSQL sorts every remaining control for each page instead of walking
 * the current-version index: a quadratic run. ANALYZE samples, so it stays cheap. The output
 * tables are left alone: analysed while still empty they would look empty for the whole run and
 * the probes would turn into sequential scans of tables that grow with every batch.
 */
export async function analyzeControls(client: pg.ClientBase): Promise<void> {
  await client.query('analyze src_controls_ver_control');
}

/** Number of current controls (for progress). */
export async function countCurrentControls(client: pg.ClientBase): Promise<number> {
  const r = await client.query<{ n: string }>('select count(*)::text as n from src_controls_ver_control where tx_to is null');
  return Number(r.rows[0]?.n ?? 0);
}

export interface Page {
  /** Last control id of the page; undefined when there are no more current controls. */
  readonly last: string | undefined;
  /** Controls of the page that lack an output of the current models. */
  readonly pending: PendingControl[];
}

/**
 * The next `limit` current controls after `after` (by control id), with the outputs each still
 * lacks; text is sent only for those. Every page is a bounded range scan of the current-version
 * index plus primary-key probes. The probes are scalar subqueries with LIMIT in the select list,
 * which PostgreSQL always runs per row through the index whatever the (often missing or stale)
 * statistics of the output tables say; joins and NOT EXISTS were planned as sequential scans or
 * hashes of the whole output tables on every page, quadratic over a run. So a run is linear in the number of controls, and its memory
 * is bounded by the page size.
 */
export async function nextPage(client: pg.ClientBase, models: RunModels, after: string, limit: number): Promise<Page> {
  const taxonomy = models.taxonomy;
  const r = await client.query<PendingControl & { pending: boolean }>(
    `with page as materialized (
       select control_id, text_hash, title, description from src_controls_ver_control
        where tx_to is null and control_id > $1 order by control_id limit $11
     ), flags as materialized (
       select p.control_id, p.text_hash, p.title, p.description,
              (select e.vector from ai_controls_embedding e
                where e.control_id = p.control_id and e.text_hash = p.text_hash
                  and e.model_name = $2 and e.model_version = $3) as vector,
              (select 1 from ai_controls_enrichment x
                where x.control_id = p.control_id and x.text_hash = p.text_hash
                  and x.model_name = $4 and x.model_version = $5 limit 1) is null as need_enrichment,
              (select 1 from ai_controls_feature_prep f
                where f.control_id = p.control_id and f.text_hash = p.text_hash
                  and f.model_name = $6 and f.model_version = $7 limit 1) is null as need_feature_prep,
              $8::boolean and (select 1 from ai_controls_taxonomy_mapping m
                where m.control_id = p.control_id and m.text_hash = p.text_hash
                  and m.model_name = $9 and m.model_version = $10 limit 1) is null as need_taxonomy
         from page p
     )
     select control_id, text_hash, vector is null as need_embedding, need_enrichment, need_feature_prep, need_taxonomy, pending,
            -- The stored vector only travels when the mapping needs it; it is the bulk of a row.
            case when need_taxonomy then vector end as vector,
            case when pending then title end as title,
            case when pending then description end as description
       from (select *, vector is null or need_enrichment or need_feature_prep or need_taxonomy as pending from flags) f
      order by control_id`,
    [
      after,
      models.embedding.name,
      models.embedding.version,
      models.enrichment.name,
      models.enrichment.version,
      models.featurePrep.name,
      models.featurePrep.version,
      taxonomy !== undefined,
      taxonomy?.name ?? '',
      taxonomy?.version ?? '',
      limit,
    ],
  );
  const last = r.rows[r.rows.length - 1]?.control_id;
  return { last, pending: r.rows.filter((row) => row.pending) };
}

/** A vector as a PostgreSQL array literal (nine significant digits round-trip any float32). */
export function vectorLiteral(v: Float32Array): string {
  return `{${float32Values(v).join(',')}}`;
}

/** Float32 values as the shortest decimals that read back as the same float32. */
export function float32Values(v: Float32Array): number[] {
  return Array.from(v, (x) => (x === 0 ? 0 : Number(x.toPrecision(9))));
}

export interface BatchRows {
  readonly embedding: readonly (readonly [string, string, Float32Array])[];
  readonly enrichment: readonly (readonly [string, string, string, readonly string[]])[];
  readonly featurePrep: readonly (readonly [string, string, string])[];
  readonly taxonomy: readonly (readonly [string, string, string, number, number])[];
}

export interface BatchWritten {
  readonly embedding: number;
  readonly enrichment: number;
  readonly feature_prep: number;
  readonly taxonomy_mapping: number;
  /** control id → search vector (text form) of the feature-prep rows just written. */
  readonly searchVectors: ReadonlyMap<string, string>;
}

/**
 * Writes one batch set-based. Rows replace outputs of an older model version for the same text
 * (the primary key has no model column), which is why these are upserts; outputs that are
 * already current were filtered out before and are never touched.
 */
export async function writeBatch(client: pg.ClientBase, models: RunModels, uploadId: string, dimension: number, rows: BatchRows): Promise<BatchWritten> {
  // DELETE, not TRUNCATE: truncating a temp table inside a transaction allocates new files each time.
  await client.query('delete from enrich_stage_embedding; delete from enrich_stage_enrichment; delete from enrich_stage_feature_prep; delete from enrich_stage_taxonomy');
  const copy = (table: string, columns: string[], values: Iterable<readonly CopyValue[]>) => copyRows(client, table, columns, values);
  await copy('enrich_stage_embedding', ['control_id', 'text_hash', 'vector'], rows.embedding.map(([c, h, v]) => [c, h, vectorLiteral(v)]));
  await copy('enrich_stage_enrichment', ['control_id', 'text_hash', 'summary', 'keywords'], rows.enrichment);
  await copy('enrich_stage_feature_prep', ['control_id', 'text_hash', 'normalised_text'], rows.featurePrep);
  await copy('enrich_stage_taxonomy', ['control_id', 'text_hash', 'risk_theme_id', 'score', 'rank'], rows.taxonomy);

  const embedding = await client.query(
    `insert into ai_controls_embedding as t (control_id, text_hash, model_name, model_version, dimension, vector, upload_id)
     select control_id, text_hash, $1, $2, $3, vector, $4 from enrich_stage_embedding
     on conflict (control_id, text_hash) do update
       set model_name = excluded.model_name, model_version = excluded.model_version, dimension = excluded.dimension,
           vector = excluded.vector, upload_id = excluded.upload_id, created_at = now()`,
    [models.embedding.name, models.embedding.version, dimension, uploadId],
  );
  const enrichment = await client.query(
    `insert into ai_controls_enrichment (control_id, text_hash, summary, keywords, model_name, model_version, upload_id)
     select control_id, text_hash, summary, keywords, $1, $2, $3 from enrich_stage_enrichment
     on conflict (control_id, text_hash) do update
       set summary = excluded.summary, keywords = excluded.keywords, model_name = excluded.model_name,
           model_version = excluded.model_version, upload_id = excluded.upload_id, created_at = now()`,
    [models.enrichment.name, models.enrichment.version, uploadId],
  );
  // The first line of the normalised text is the title: weight A, so title matches rank first.
  const featurePrep = await client.query<{ control_id: string; search_vector: string }>(
    `insert into ai_controls_feature_prep (control_id, text_hash, normalised_text, search_vector, model_name, model_version, upload_id)
     select control_id, text_hash, normalised_text,
            setweight(to_tsvector('english', split_part(normalised_text, E'\\n', 1)), 'A')
            || setweight(to_tsvector('english', case when strpos(normalised_text, E'\\n') > 0
                                                     then substr(normalised_text, strpos(normalised_text, E'\\n') + 1) else '' end), 'B'),
            $1, $2, $3
       from enrich_stage_feature_prep
     on conflict (control_id, text_hash) do update
       set normalised_text = excluded.normalised_text, search_vector = excluded.search_vector, model_name = excluded.model_name,
           model_version = excluded.model_version, upload_id = excluded.upload_id, created_at = now()
     returning control_id, search_vector::text as search_vector`,
    [models.featurePrep.name, models.featurePrep.version, uploadId],
  );
  let taxonomyRows = 0;
  if (models.taxonomy !== undefined && rows.taxonomy.length > 0) {
    // A text's mapping is replaced whole: themes of an older model version must not linger.
    await client.query(
      `delete from ai_controls_taxonomy_mapping m
        using (select distinct control_id, text_hash from enrich_stage_taxonomy) s
        where m.control_id = s.control_id and m.text_hash = s.text_hash`,
    );
    const r = await client.query(
      `insert into ai_controls_taxonomy_mapping (control_id, text_hash, risk_theme_id, score, rank, model_name, model_version, upload_id)
       select control_id, text_hash, risk_theme_id, score, rank, $1, $2, $3 from enrich_stage_taxonomy`,
      [models.taxonomy.name, models.taxonomy.version, uploadId],
    );
    taxonomyRows = r.rowCount ?? 0;
  }
  return {
    embedding: embedding.rowCount ?? 0,
    enrichment: enrichment.rowCount ?? 0,
    feature_prep: featurePrep.rowCount ?? 0,
    taxonomy_mapping: taxonomyRows,
    searchVectors: new Map(featurePrep.rows.map((r) => [r.control_id, r.search_vector])),
  };
}
