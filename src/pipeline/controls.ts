/**
 * What follows an ingestion, the same from `nfr ingest` and from the API's jobs: for controls the
 * enrichment model runs, and for both, when AUTO_SNAPSHOT_AFTER_INGESTION is set, a snapshot of
 * the result (SPEC §6). Enrichment runs after the ingestion committed; if it fails, the controls
 * stay ingested and the error says so (enrichment picks up every control still missing outputs
 * the next time it runs).
 */
import path from 'node:path';
import { runEnrichment, type EnrichmentResult } from '../enrich/run.js';
import { NfrError, toNfrError } from '../errors.js';
import type { ContextIngestReport } from '../ingest/context.js';
import type { ControlsIngestResult } from '../ingest/controls.js';
import { createSnapshot } from '../snapshot/create.js';
import { waitingForLock } from '../runtime/operation.js';
import type { Context } from '../runtime/context.js';

export type IngestWithEnrichment = ControlsIngestResult & { readonly enrichment: EnrichmentResult | null };

/** What a stage tells whoever runs it (a job's record, the CLI's progress line). */
export type StepReport = (r: { readonly step: string; readonly percent?: number }) => void;

/**
 * Enrichment takes the operation lock again once the ingestion has released it, and another
 * operation waiting for the lock (a queued ingestion) may get it first. The controls are in by
 * then, so enrichment queues behind it instead of failing the command.
 */
const ENRICH_LOCK_WAIT_SECONDS = 3600;

export async function enrichAfterIngest(ctx: Context, ingested: ControlsIngestResult): Promise<IngestWithEnrichment> {
  if (ingested.dry_run || ingested.upload_id === null) return { ...ingested, enrichment: null };
  try {
    return { ...ingested, enrichment: await runEnrichment(waitingForLock(ctx, ENRICH_LOCK_WAIT_SECONDS), { uploadId: ingested.upload_id }) };
  } catch (err) {
    const e = toNfrError(err);
    throw new NfrError(e.code, `upload ${ingested.upload_id} was ingested, but the enrichment models failed: ${e.message}`, { cause: err, details: { upload_id: ingested.upload_id } });
  }
}

/**
 * A controls ingestion's follow-up: enrichment (unless `enrich` is false) and the automatic
 * snapshot. A dry run changed nothing, so it gets neither.
 */
export async function afterControlsIngested(
  ctx: Context,
  ingested: ControlsIngestResult,
  options: { readonly enrich?: boolean; readonly report?: StepReport } = {},
): Promise<IngestWithEnrichment & { readonly auto_snapshot_id: string | null }> {
  options.report?.({ step: 'enriching', percent: 60 });
  const enriched = options.enrich === false ? { ...ingested, enrichment: null } : await enrichAfterIngest(ctx, ingested);
  const what = `${path.basename(ingested.file)} as ${ingested.upload_id}`;
  const auto = ingested.dry_run || ingested.upload_id === null ? null : await autoSnapshot(ctx, ingested.upload_id, `Automatic snapshot after ingesting ${what}`, options.report);
  return { ...enriched, auto_snapshot_id: auto };
}

/** A context ingestion's follow-up: the automatic snapshot, after a real run that applied its files. */
export async function afterContextIngested(ctx: Context, report: ContextIngestReport, step?: StepReport): Promise<ContextIngestReport & { readonly auto_snapshot_id: string | null }> {
  if (!report.ok || report.dry_run) return { ...report, auto_snapshot_id: null };
  const uploadId = report.upload_id ?? 'context ingestion';
  return { ...report, auto_snapshot_id: await autoSnapshot(ctx, uploadId, `Automatic snapshot after ingesting the context providers as ${uploadId}`, step) };
}

/** With AUTO_SNAPSHOT_AFTER_INGESTION, a snapshot named `after <upload>`, tagged `auto`; else null. */
async function autoSnapshot(ctx: Context, uploadId: string, description: string, report?: StepReport): Promise<string | null> {
  if (!ctx.config.autoSnapshotAfterIngestion) return null;
  report?.({ step: 'auto-snapshot', percent: 85 });
  const manifest = await createSnapshot(ctx, { name: `after ${uploadId}`, description, tags: ['auto'] });
  return manifest.id;
}
