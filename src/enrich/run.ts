/**
 * An enrichment run: for every current control whose text has no output yet from the current
 * models, compute taxonomy mapping, enrichment, feature preparation and the embedding, store
 * them in the ai_controls_* tables and record them in
 * DATA_INGESTED_PATH/model_runs/<model>/<UPLOAD-ID>.jsonl, where <model> is one of
 * taxonomy_mapping, enrichment, feature_prep, embedding.
 *
 * Outputs are keyed by (control_id, text_hash) and model version, so a control whose text did
 * not change is never recomputed. The run is one transaction (nothing half-written); the JSONL
 * files are streamed to temp files, fsynced before the commit and renamed into place after it.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { withClient } from '../postgres/connection.js';
import { withOperation } from '../runtime/operation.js';
import type { Context } from '../runtime/context.js';
import { createEmbedder } from './create-embedder.js';
import type { Embedder } from './embedder.js';
import { GLOVE_MODEL } from './glove-embedder.js';
import { LOCAL_MODEL } from './local-embedder.js';
import { ModelRunFile } from './model-run-file.js';
import { ENRICHMENT_MODEL, FEATURE_PREP_MODEL, TAXONOMY_MODEL, keywords, normaliseText, rankThemes, summarise, type Theme } from './models.js';
import { analyzeControls, countCurrentControls, createStagingTables, float32Values, nextPage, writeBatch, type PendingControl, type RunModels } from './outputs.js';
import { controlText } from '../ingest/text.js';
import { isUploadId } from '../ingest/uploads.js';
import { legacyUploadRecorded, uploadRecorded, withUploadRecords } from '../ingest/upload-records.js';

/** Folder names under model_runs/, one per model. */
export const MODEL_RUN_KINDS = ['taxonomy_mapping', 'enrichment', 'feature_prep', 'embedding'] as const;
export type ModelRunKind = (typeof MODEL_RUN_KINDS)[number];

export interface EnrichmentProgress {
  readonly phase: 'enrich';
  /** Controls whose outputs were computed so far. */
  readonly controls_done: number;
  /** Current controls looked at so far (unchanged ones are skipped quickly). */
  readonly controls_scanned: number;
  /** Current controls; most runs compute only the changed ones, so `done` may stay well below. */
  readonly controls_current: number;
}

export interface EnrichmentOptions {
  /** Upload the outputs belong to (recorded in the control database); names the JSONL files. */
  readonly uploadId: string;
  readonly onProgress?: (progress: EnrichmentProgress) => void;
  /** Defaults to the configured embedder (createEmbedder). */
  readonly embedder?: Embedder;
  /** Controls per batch (bounded memory). */
  readonly batchSize?: number;
}

export interface EnrichmentResult {
  readonly upload_id: string;
  readonly controls_current: number;
  /** Controls for which at least one output was computed. */
  readonly controls_computed: number;
  /** Rows written per ai_controls_* table. */
  readonly rows: Readonly<Record<ModelRunKind, number>>;
  /** JSONL file per model; absent when the model wrote nothing in this run. */
  readonly files: Readonly<Partial<Record<ModelRunKind, string>>>;
  readonly models: Readonly<Record<ModelRunKind, { name: string; version: string } | null>>;
  readonly embedding_dimension: number;
  /** Why a model did nothing, e.g. taxonomy mapping without current risk themes. */
  readonly skipped: readonly string[];
  readonly duration_ms: number;
}

/** Takes the operation lock ('ingest'), then runs {@link runEnrichmentLocked} on a fresh session. */
export async function runEnrichment(ctx: Context, options: EnrichmentOptions): Promise<EnrichmentResult> {
  return withOperation(ctx, 'ingest', null, () => withClient(ctx.target, (client) => runEnrichmentLocked(ctx, client, options), 'nfr enrich'));
}

/**
 * Runs enrichment on `client`, a session on the live database that is not inside a transaction;
 * the caller already holds the operation lock. Commits one transaction.
 */
export async function runEnrichmentLocked(ctx: Context, client: pg.ClientBase, options: EnrichmentOptions): Promise<EnrichmentResult> {
  const started = Date.now();
  if (!isUploadId(options.uploadId)) throw new NfrError('USAGE', `upload id "${options.uploadId}" is not of the form UPL-YYYY-NNNN`);
  const embedder = options.embedder ?? createEmbedder(ctx.config);
  const batchSize = options.batchSize ?? 500;
  const root = path.join(ctx.config.dataIngestedPath, 'model_runs');
  const files = Object.fromEntries(await Promise.all(MODEL_RUN_KINDS.map(async (k) => [k, await ModelRunFile.create(root, k, options.uploadId)] as const))) as Record<ModelRunKind, ModelRunFile>;
  const rows: Record<ModelRunKind, number> = { taxonomy_mapping: 0, enrichment: 0, feature_prep: 0, embedding: 0 };
  const skipped: string[] = [];
  let committed = false;
  await assertNoTransaction(client);
  await client.query('begin');
  try {
    await assertUploadExists(ctx, client, options.uploadId);
    const themeRows = await currentThemes(client);
    if (themeRows.length === 0) skipped.push('taxonomy_mapping: there are no current active risk themes (ingest the context first)');
    const models: RunModels = {
      embedding: { name: embedder.model, version: embedder.model === LOCAL_MODEL || embedder.model === GLOVE_MODEL ? '1' : 'openai-compatible' },
      enrichment: ENRICHMENT_MODEL,
      featurePrep: FEATURE_PREP_MODEL,
      // The themes and the embedder are inputs of the mapping: a change to either remaps every control.
      taxonomy: themeRows.length === 0 ? undefined : { name: TAXONOMY_MODEL.name, version: `${TAXONOMY_MODEL.version}+${embedder.model}+themes-${themesFingerprint(themeRows)}` },
    };
    await analyzeControls(client);
    await createStagingTables(client);
    const controlsCurrent = await countCurrentControls(client);
    let themes: Theme[] | undefined;
    let dimension = embedder.dimension;
    const processBatch = async (batch: readonly PendingControl[]): Promise<number> => {
      const vectors = await vectorsFor(embedder, batch);
      dimension = embedder.dimension || (vectors[0]?.length ?? 0);
      if (models.taxonomy !== undefined && themes === undefined && batch.some((c) => c.need_taxonomy)) {
        // Themes are embedded once per run, lazily: a run with nothing to map never calls the model.
        const themeVectors = await embedder.embed(themeRows.map(themeText));
        themes = themeRows.map((t, i) => ({ riskThemeId: t.risk_theme_id, vector: themeVectors[i] as Float32Array }));
      }
      const out = computeBatch(batch, vectors, themes ?? []);
      const written = await writeBatch(client, models, options.uploadId, dimension, out.rows);
      rows.embedding += written.embedding;
      rows.enrichment += written.enrichment;
      rows.feature_prep += written.feature_prep;
      rows.taxonomy_mapping += written.taxonomy_mapping;
      await writeLines(files, models, dimension, batch, vectors, out, written.searchVectors);
      return batch.length;
    };

    let done = 0;
    let scanned = 0;
    for (let after = ''; ; ) {
      const page = await nextPage(client, models, after, batchSize);
      if (page.last === undefined) break;
      after = page.last;
      scanned = Math.min(scanned + batchSize, controlsCurrent);
      if (page.pending.length > 0) done += await processBatch(page.pending);
      options.onProgress?.({ phase: 'enrich', controls_done: done, controls_scanned: scanned, controls_current: controlsCurrent });
    }
    for (const f of Object.values(files)) await f.flush();
    await client.query('commit');
    committed = true;
    const published: Partial<Record<ModelRunKind, string>> = {};
    for (const k of MODEL_RUN_KINDS) if (await files[k].publish()) published[k] = files[k].path;
    return {
      upload_id: options.uploadId,
      controls_current: controlsCurrent,
      controls_computed: done,
      rows,
      files: published,
      models: {
        taxonomy_mapping: models.taxonomy ?? null,
        enrichment: models.enrichment,
        feature_prep: models.featurePrep,
        embedding: models.embedding,
      },
      embedding_dimension: dimension,
      skipped,
      duration_ms: Date.now() - started,
    };
  } catch (err) {
    if (!committed) await client.query('rollback').catch(() => {});
    for (const f of Object.values(files)) await f.discard().catch(() => {});
    throw err;
  }
}

interface ThemeRow {
  readonly risk_theme_id: string;
  readonly name: string;
  readonly description: string | null;
  readonly mapping_considerations: string | null;
}

/**
 * BEGIN inside an open transaction only warns, and our COMMIT would then commit the caller's
 * work too. In autocommit mode the running statement started the transaction, so the two
 * timestamps are equal; an older xact_start means the caller left a transaction open.
 */
async function assertNoTransaction(client: pg.ClientBase): Promise<void> {
  const r = await client.query<{ open: boolean | null }>('select xact_start < query_start as open from pg_stat_activity where pid = pg_backend_pid()');
  if (r.rows[0]?.open === true) throw new NfrError('INTERNAL', 'enrichment needs a session outside a transaction: it commits its own');
}

/** Recorded in the control database, or in the upload history a live database kept before uploads moved there. */
async function assertUploadExists(ctx: Context, client: pg.ClientBase, uploadId: string): Promise<void> {
  if (!(await withUploadRecords(ctx, (control) => uploadRecorded(control, uploadId))) && !(await legacyUploadRecorded(client, uploadId))) {
    throw new NfrError('NOT_FOUND', `upload ${uploadId} does not exist; model outputs must belong to a recorded upload`);
  }
}

/** Active themes of the current taxonomy state; a few thousand at most, so held in memory. */
async function currentThemes(client: pg.ClientBase): Promise<ThemeRow[]> {
  const r = await client.query<ThemeRow>(
    `select risk_theme_id, name, description, mapping_considerations
       from src_risks_ver_theme where tx_to is null and status = 'Active' order by risk_theme_id`,
  );
  return r.rows;
}

function themeText(t: ThemeRow): string {
  return [t.name, t.description, t.mapping_considerations].filter((s): s is string => !!s && s.trim() !== '').join('\n');
}

function themesFingerprint(themes: readonly ThemeRow[]): string {
  const h = createHash('sha256');
  for (const t of themes) h.update(JSON.stringify([t.risk_theme_id, themeText(t)])).update('\n');
  return h.digest('hex').slice(0, 16);
}

/**
 * Vectors for a batch: stored ones reused, the rest embedded in one call; controls that need
 * neither an embedding nor a mapping get an empty placeholder.
 */
async function vectorsFor(embedder: Embedder, batch: readonly PendingControl[]): Promise<Float32Array[]> {
  const missing = batch.filter((c) => c.vector === null && (c.need_embedding || c.need_taxonomy));
  const fresh = missing.length === 0 ? [] : await embedder.embed(missing.map((c) => controlText(c.title, c.description)));
  let next = 0;
  const none = new Float32Array(0);
  return batch.map((c) => (c.vector !== null ? Float32Array.from(c.vector) : c.need_embedding || c.need_taxonomy ? (fresh[next++] as Float32Array) : none));
}

interface ComputedBatch {
  readonly rows: {
    embedding: [string, string, Float32Array][];
    enrichment: [string, string, string, string[]][];
    featurePrep: [string, string, string][];
    taxonomy: [string, string, string, number, number][];
  };
}

function computeBatch(batch: readonly PendingControl[], vectors: readonly Float32Array[], themes: readonly Theme[]): ComputedBatch {
  const rows: ComputedBatch['rows'] = { embedding: [], enrichment: [], featurePrep: [], taxonomy: [] };
  batch.forEach((c, i) => {
    const vector = vectors[i] as Float32Array;
    if (c.need_embedding) rows.embedding.push([c.control_id, c.text_hash, vector]);
    if (c.need_enrichment) rows.enrichment.push([c.control_id, c.text_hash, summarise(c.title, c.description), keywords(c.title, c.description)]);
    if (c.need_feature_prep) rows.featurePrep.push([c.control_id, c.text_hash, normaliseText(c.title, c.description)]);
    if (c.need_taxonomy) for (const s of rankThemes(vector, themes)) rows.taxonomy.push([c.control_id, c.text_hash, s.riskThemeId, s.score, s.rank]);
  });
  return { rows };
}

/** One JSON line per control and model, in control-id order. */
async function writeLines(
  files: Record<ModelRunKind, ModelRunFile>,
  models: RunModels,
  dimension: number,
  batch: readonly PendingControl[],
  vectors: readonly Float32Array[],
  out: ComputedBatch,
  searchVectors: ReadonlyMap<string, string>,
): Promise<void> {
  const byControl = new Map<string, { risk_theme_id: string; score: number; rank: number }[]>();
  for (const [controlId, , themeId, score, rank] of out.rows.taxonomy) {
    const list = byControl.get(controlId) ?? [];
    list.push({ risk_theme_id: themeId, score, rank });
    byControl.set(controlId, list);
  }
  const enrichment = new Map(out.rows.enrichment.map(([id, , summary, kw]) => [id, { summary, keywords: kw }]));
  const features = new Map(out.rows.featurePrep.map(([id, , text]) => [id, text]));
  for (const [i, c] of batch.entries()) {
    const key = { control_id: c.control_id, text_hash: c.text_hash };
    const mapping = byControl.get(c.control_id);
    if (mapping !== undefined && models.taxonomy !== undefined) {
      await files.taxonomy_mapping.write({ ...key, model_name: models.taxonomy.name, model_version: models.taxonomy.version, themes: mapping });
    }
    const e = enrichment.get(c.control_id);
    if (e !== undefined) await files.enrichment.write({ ...key, model_name: models.enrichment.name, model_version: models.enrichment.version, ...e });
    const normalised = features.get(c.control_id);
    if (normalised !== undefined) {
      await files.feature_prep.write({
        ...key,
        model_name: models.featurePrep.name,
        model_version: models.featurePrep.version,
        normalised_text: normalised,
        search_vector: searchVectors.get(c.control_id) ?? null,
      });
    }
    if (c.need_embedding) {
      await files.embedding.write({ ...key, model_name: models.embedding.name, model_version: models.embedding.version, dimension, vector: float32Values(vectors[i] as Float32Array) });
    }
  }
}
