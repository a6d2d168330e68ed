/**
 * Control ingestion followed by the enrichment model runs: what `nfr ingest controls` and the
 * API's upload job do. Enrichment runs after the ingestion committed; if it fails, the controls
 * stay ingested and the error says so (enrichment picks up every control still missing outputs
 * the next time it runs).
 */
import { runEnrichment, type EnrichmentResult } from '../enrich/run.js';
import { NfrError, toNfrError } from '../errors.js';
import type { ControlsIngestResult } from '../ingest/controls.js';
import { waitingForLock } from '../snapshot/operation.js';
import type { SnapshotContext } from '../snapshot/store.js';

export type IngestWithEnrichment = ControlsIngestResult & { readonly enrichment: EnrichmentResult | null };

/**
 * Enrichment takes the operation lock again once the ingestion has released it, and another
 * operation waiting for the lock (a queued ingestion) may get it first. The controls are in by
 * then, so enrichment queues behind it instead of failing the command.
 */
const ENRICH_LOCK_WAIT_SECONDS = 3600;

export async function enrichAfterIngest(ctx: SnapshotContext, ingested: ControlsIngestResult): Promise<IngestWithEnrichment> {
  if (ingested.dry_run || ingested.upload_id === null) return { ...ingested, enrichment: null };
  try {
    return { ...ingested, enrichment: await runEnrichment(waitingForLock(ctx, ENRICH_LOCK_WAIT_SECONDS), { uploadId: ingested.upload_id }) };
  } catch (err) {
    const e = toNfrError(err);
    throw new NfrError(e.code, `upload ${ingested.upload_id} was ingested, but the enrichment models failed: ${e.message}`, { cause: err, details: { upload_id: ingested.upload_id } });
  }
}
