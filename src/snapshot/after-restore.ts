/**
 * What a PostgreSQL-only restore means for the derived stores (SPEC §5.3 "After restore"): the
 * vector index may no longer match the restored controls, and files under DATA_INGESTED_PATH may
 * belong to uploads the restored database never saw. The report says what is out of date and the
 * exact command that fixes it; with resync the index is brought in line at once, incrementally.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { Config } from '../config.js';
import { uploadsRecordedBefore, type UploadRecordsContext } from '../ingest/upload-records.js';
import { uploadIdInName } from '../ingest/uploads.js';
import { messageOf } from '../errors.js';
import type { Manifest } from './manifest.js';

export interface AfterRestoreReport {
  /** The pipeline stage the snapshot captured. */
  readonly snapshot_stage: string | null;
  readonly index: {
    /** in-sync | out-of-date | missing (never built) | resynced | unknown (could not be checked). */
    readonly status: 'in-sync' | 'out-of-date' | 'missing' | 'resynced' | 'unknown';
    readonly missing: number;
    readonly stale: number;
    readonly orphan: number;
    readonly detail: string | null;
    /** The command that brings it in line, when it is not. */
    readonly fix: string | null;
    readonly resync?: { readonly upserted: number; readonly deleted: number; readonly embedded: number; readonly points: number } | undefined;
  };
  /** Stored uploads and model outputs whose upload the restored database does not know. */
  readonly unreferenced_files: { readonly count: number; readonly files: string[] };
  /**
   * In the pipeline's terms, what must run again to bring the data forward from the restored
   * stage (restoring the post-context checkpoint: control ingestion, then the index), and how.
   */
  readonly rerun: { readonly summary: string; readonly stages: string[]; readonly commands: string[] };
}

/** What runs after each stage the snapshot may have captured. */
function rerunFrom(stage: string | null, index: AfterRestoreReport['index']): AfterRestoreReport['rerun'] {
  const indexStep = index.status === 'in-sync' || index.status === 'resynced' ? [] : [{ stage: 'indexing', command: index.fix ?? 'nfr index' }];
  const steps =
    stage === 'clean'
      ? [
          { stage: 'context ingestion', command: 'nfr ingest context --path DIR' },
          { stage: 'control ingestion (with enrichment)', command: 'nfr ingest controls FILE.csv' },
          { stage: 'indexing', command: 'nfr index' },
        ]
      : stage === 'context'
        ? [
            { stage: 'control ingestion (with enrichment)', command: 'nfr ingest controls FILE.csv' },
            { stage: 'indexing', command: 'nfr index' },
          ]
        : indexStep;
  const summary = steps.length
    ? `The restored data is at the ${stage ?? 'unknown'} stage: run ${steps.map((s) => s.stage).join(', then ')} again${stage === 'clean' || stage === 'context' ? ' (or the rest at once: nfr pipeline run --context DIR --controls FILE.csv)' : ''}.`
    : 'Nothing to run again: the derived stores match the restored data.';
  return { summary, stages: steps.map((s) => s.stage), commands: steps.map((s) => s.command) };
}

const LISTED_FILES = 100;

/**
 * Builds the report on the restored live database (`client`). Runs inside the restore's
 * operation, so a resync here cannot race another ingestion or index sync.
 */
export async function afterRestore(ctx: UploadRecordsContext, client: pg.ClientBase, manifest: Manifest, resync: boolean, knownSignature?: string): Promise<AfterRestoreReport> {
  const config = ctx.config;
  // Side by side: the index check waits on files and the index, the files' on the control database.
  const [index, unreferenced] = await Promise.all([resync ? resyncIndex(config, client) : indexState(config, client, knownSignature), unreferencedFiles(ctx, client, manifest)]);
  return { snapshot_stage: manifest.database.pipeline_stage, index, unreferenced_files: unreferenced, rerun: rerunFrom(manifest.database.pipeline_stage, index) };
}

async function resyncIndex(config: Config, client: pg.ClientBase): Promise<AfterRestoreReport['index']> {
  // Loaded on demand: most restores never touch the index, and the CLI starts faster without it.
  const [{ openIndex }, { syncIndexLocked }, { createEmbedder }, { completeStage }] = await Promise.all([
    import('../index/open-index.js'),
    import('../index/sync.js'),
    import('../enrich/create-embedder.js'),
    import('../runtime/stage.js'),
  ]);
  const index = openIndex(config);
  try {
    const r = await syncIndexLocked(client, index, createEmbedder(config));
    if (await hasStageTable(client)) await completeStage(client, 'indexed', { index_points: r.points });
    return { status: 'resynced', missing: 0, stale: 0, orphan: 0, detail: `${r.upserted} upserted, ${r.deleted} deleted`, fix: null, resync: { upserted: r.upserted, deleted: r.deleted, embedded: r.embedded, points: r.points } };
  } finally {
    await index.close();
  }
}

/**
 * The index modules the report loads (loaded on demand: the CLI starts faster without them, and
 * loading them costs about 0.2 s). A restore starts loading them as it begins, so that they are
 * ready by its report, having loaded while it waited on the database.
 */
export function loadIndexCheck() {
  return Promise.all([import('../index/open-index.js'), import('../index/pg-source.js'), import('../index/check.js')]);
}

/**
 * The controls' signature, as the vector index records the data it was synced from: one scan of
 * the control tables, so a spare records it when it is made (../spare.ts) and the report of its
 * restore reads it from there instead of scanning a database of any size on the critical path.
 */
export async function indexSignature(client: pg.ClientBase): Promise<string> {
  const { pgSignature } = await import('../index/pg-source.js');
  return pgSignature(client);
}

/** `knownSignature`: the restored data's signature when it is known (a spare's), else it is read. */
async function indexState(config: Config, client: pg.ClientBase, knownSignature?: string): Promise<AfterRestoreReport['index']> {
  try {
    const [{ openIndex }, { pgSignature }, { checkIndex }] = await loadIndexCheck();
    // Cheap answers first: no index at all, or an index synced from exactly this data (the
    // signature it recorded matches the restored controls). Only otherwise compare every point.
    const index = openIndex(config);
    try {
      const description = await index.describe();
      if (!description) return { status: 'missing', missing: 0, stale: 0, orphan: 0, detail: 'no vector index has been built', fix: 'nfr index' };
      if (description.source_signature === (knownSignature ?? (await pgSignature(client)))) return { status: 'in-sync', missing: 0, stale: 0, orphan: 0, detail: null, fix: null };
    } finally {
      await index.close();
    }
    const c = await checkIndex(config);
    if (c.model_mismatch) return { status: 'out-of-date', missing: c.missing.count, stale: c.stale.count, orphan: c.orphan.count, detail: c.model_mismatch, fix: 'nfr index --force' };
    const ok = c.missing.count === 0 && c.stale.count === 0 && c.orphan.count === 0;
    return {
      status: ok ? 'in-sync' : 'out-of-date',
      missing: c.missing.count,
      stale: c.stale.count,
      orphan: c.orphan.count,
      detail: ok ? null : `${c.missing.count} missing, ${c.stale.count} stale, ${c.orphan.count} orphan point(s)`,
      fix: ok ? null : 'nfr index',
    };
  } catch (err) {
    return { status: 'unknown', missing: 0, stale: 0, orphan: 0, detail: `could not compare the index: ${messageOf(err)}`, fix: 'nfr index --check' };
  }
}

async function hasStageTable(client: pg.ClientBase): Promise<boolean> {
  const r = await client.query<{ ok: boolean }>("select to_regclass('nfr_pipeline_stage') is not null as ok");
  return r.rows[0]?.ok === true;
}

/**
 * Files named after an upload id (controls/UPL-….csv, model_runs/<model>/UPL-….jsonl) whose
 * upload the restored database never saw: not recorded (control database) by the time the
 * snapshot was taken, nor in the upload history of the restored database itself (snapshots
 * taken before uploads moved to the control database).
 */
async function unreferencedFiles(ctx: UploadRecordsContext, client: pg.ClientBase, manifest: Manifest): Promise<AfterRestoreReport['unreferenced_files']> {
  const known = await uploadsRecordedBefore(ctx, manifest.created_at);
  const exists = await client.query<{ ok: boolean }>("select to_regclass('nfr_upload') is not null as ok");
  if (exists.rows[0]?.ok) {
    for (const row of (await client.query<{ upload_id: string }>('select upload_id from nfr_upload')).rows) known.add(row.upload_id);
  }
  const root = ctx.config.dataIngestedPath;
  const candidates: string[] = [];
  const list = async (rel: string) => (await readdir(path.join(root, rel), { withFileTypes: true }).catch(() => [])) as import('node:fs').Dirent[];
  for (const e of await list('controls')) if (e.isFile()) candidates.push(`controls/${e.name}`);
  for (const model of await list('model_runs')) {
    if (!model.isDirectory()) continue;
    for (const e of await list(`model_runs/${model.name}`)) if (e.isFile()) candidates.push(`model_runs/${model.name}/${e.name}`);
  }
  const unreferenced = candidates.filter((f) => {
    const id = uploadIdInName(path.basename(f));
    return id !== undefined && !known.has(id);
  });
  unreferenced.sort();
  return { count: unreferenced.length, files: unreferenced.slice(0, LISTED_FILES) };
}
