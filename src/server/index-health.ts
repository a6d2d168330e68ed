/**
 * The vector index as `GET /health` reports it: which backend, whether it answers, how many
 * points it holds and whether it was synced with the current controls. Bounded in time: a Qdrant
 * that does not answer is reported as an error after HEALTH_INDEX_TIMEOUT_MS, never a hung probe.
 * An index that is absent or in error does not make the service unhealthy: search needs it,
 * liveness and the rest of the API do not.
 */
import type { Config } from '../config.js';
import { messageOf } from '../errors.js';
import { EmbeddedIndex } from '../index/embedded.js';
import { QdrantIndex } from '../index/qdrant.js';
import type { VectorIndex } from '../index/types.js';

export const HEALTH_INDEX_TIMEOUT_MS = 2000;

export interface IndexHealth {
  readonly backend: VectorIndex['kind'];
  /** absent: no index built yet (`nfr index` or POST /api/v2/pipelines/index/sync builds it). */
  readonly status: 'ok' | 'error' | 'absent';
  readonly points?: number;
  readonly model?: string;
  /** Synced with exactly the current controls (PostgreSQL's signature); absent when unknown. */
  readonly in_sync?: boolean;
  /** Why the status is error or absent. */
  readonly message?: string;
}

/**
 * Probes the configured index. One index object for the server's life; its Qdrant requests time
 * out just after the probe's deadline, so a hung server is reported by the deadline's message and
 * its requests do not linger. Concurrent health requests share one probe in flight.
 */
export function indexHealthProbe(config: Config, signature: () => Promise<string>): () => Promise<IndexHealth> {
  const index: VectorIndex = config.qdrant ? new QdrantIndex({ ...config.qdrant, timeoutMs: HEALTH_INDEX_TIMEOUT_MS + 500 }) : new EmbeddedIndex(config.indexPath);
  let inflight: Promise<IndexHealth> | undefined;
  return () => {
    inflight ??= withDeadline(probe(index, signature), index).finally(() => (inflight = undefined));
    return inflight;
  };
}

async function probe(index: VectorIndex, signature: () => Promise<string>): Promise<IndexHealth> {
  let description;
  try {
    description = await index.describe();
  } catch (err) {
    return { backend: index.kind, status: 'error', message: messageOf(err) };
  }
  if (!description) return { backend: index.kind, status: 'absent', points: 0, in_sync: false, message: 'no vector index yet: build it with `nfr index` or POST /api/v2/pipelines/index/sync' };
  // Unknown (not false) when the database cannot say: the database part of /health reports that.
  const current = await signature().catch(() => undefined);
  return {
    backend: index.kind,
    status: 'ok',
    points: description.points,
    model: description.model,
    ...(current === undefined ? {} : { in_sync: description.source_signature === current }),
  };
}

function withDeadline(work: Promise<IndexHealth>, index: VectorIndex): Promise<IndexHealth> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<IndexHealth>((resolve) => {
    timer = setTimeout(
      () => resolve({ backend: index.kind, status: 'error', message: `the index at ${index.location} did not answer within ${HEALTH_INDEX_TIMEOUT_MS} ms` }),
      HEALTH_INDEX_TIMEOUT_MS,
    );
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}
