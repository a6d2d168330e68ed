/**
 * The Qdrant backend, through the official `@qdrant/js-client-rest` client. One collection,
 * `<QDRANT_COLLECTION_PREFIX>_controls`, with one unnamed dense vector per point.
 *
 * The model is recorded in the collection's `metadata` (Qdrant ≥ 1.16 stores it, and returns it in
 * the collection info) together with the PostgreSQL signature of the last sync. Servers that drop
 * unknown fields still carry the model in every point's payload, which describe() falls back to.
 *
 * Writes go straight to the collection (Qdrant has no multi-request transactions); a killed sync
 * leaves some points updated and the rest as before, which the next incremental sync completes,
 * because every point carries the hash of its text.
 */
import { QdrantClient } from '@qdrant/js-client-rest';
import type { Distance } from '../enrich/embedder.js';
import { NfrError } from '../errors.js';
import { pointId } from './point-id.js';
import { modelMismatch, type IndexDescription, type IndexedEntry, type IndexModel, type IndexPoint, type IndexWriter, type SearchHit, type VectorIndex } from './types.js';

export interface QdrantOptions {
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly collectionPrefix: string;
  /** Request timeout in milliseconds. */
  readonly timeoutMs?: number;
}

const SCROLL_PAGE = 1000;
const UPSERT_BATCH = 256;
const DELETE_BATCH = 1000;

interface CollectionMetadata {
  readonly nfr_model?: unknown;
  readonly nfr_dimension?: unknown;
  readonly nfr_distance?: unknown;
  readonly nfr_source_signature?: unknown;
}

export class QdrantIndex implements VectorIndex {
  readonly kind = 'qdrant' as const;
  readonly location: string;
  readonly collection: string;
  readonly #client: QdrantClient;
  readonly #url: string;

  constructor(options: QdrantOptions) {
    this.collection = `${options.collectionPrefix}_controls`;
    this.#url = options.url.replace(/\/+$/, '');
    this.location = `${this.#url} collection ${this.collection}`;
    // The version probe would fire an unawaited request and print warnings; compatibility is the
    // operator's call (the request shapes are checked against the 1.19 API in the tests).
    this.#client = new QdrantClient({ url: this.#url, apiKey: options.apiKey, checkCompatibility: false, timeout: options.timeoutMs ?? 60_000 });
  }

  async describe(): Promise<IndexDescription | undefined> {
    const exists = await this.#call('check the collection', () => this.#client.collectionExists(this.collection));
    if (!exists.exists) return undefined;
    const info = await this.#call('read the collection info', () => this.#client.getCollection(this.collection));
    const vectors = info.config.params.vectors as { size?: unknown; distance?: unknown } | undefined;
    if (!vectors || typeof vectors.size !== 'number' || typeof vectors.distance !== 'string') {
      throw new NfrError('SCHEMA_MISMATCH', `Qdrant collection ${this.collection} at ${this.#url} has no single unnamed vector; it was not made by nfr: delete it or set QDRANT_COLLECTION_PREFIX`);
    }
    const meta = ((info.config as { metadata?: CollectionMetadata | null }).metadata ?? {}) as CollectionMetadata;
    const model = typeof meta.nfr_model === 'string' ? meta.nfr_model : await this.#modelFromPayload();
    const points = await this.#call('count points', () => this.#client.count(this.collection, { exact: true }));
    return {
      model: model ?? 'unknown',
      dimension: vectors.size,
      distance: vectors.distance as Distance,
      points: points.count,
      source_signature: typeof meta.nfr_source_signature === 'string' ? meta.nfr_source_signature : null,
    };
  }

  async *entries(): AsyncIterable<readonly IndexedEntry[]> {
    let offset: string | number | undefined;
    for (;;) {
      const page = await this.#call('scroll points', () =>
        this.#client.scroll(this.collection, { limit: SCROLL_PAGE, offset, with_payload: ['control_id', 'text_hash', 'payload_hash'], with_vector: false }),
      );
      const batch: IndexedEntry[] = [];
      for (const p of page.points) {
        const pl = (p.payload ?? {}) as Record<string, unknown>;
        batch.push({ control_id: String(pl.control_id ?? `<point ${String(p.id)}>`), text_hash: String(pl.text_hash ?? ''), payload_hash: String(pl.payload_hash ?? '') });
      }
      if (batch.length) yield batch;
      const next = page.next_page_offset;
      if (next === undefined || next === null || typeof next === 'object') return;
      offset = next;
    }
  }

  async begin(model: IndexModel, options: { reset: boolean }): Promise<IndexWriter> {
    const current = await this.describe();
    if (current && !options.reset) {
      const mismatch = modelMismatch(current, model);
      if (mismatch) throw new NfrError('SCHEMA_MISMATCH', `${mismatch}; rebuild the index with \`nfr index --force\``);
    }
    if (current && options.reset) await this.#call('delete the collection', () => this.#client.deleteCollection(this.collection));
    if (!current || options.reset) {
      // The low-level call: the 1.18 client's createCollection() drops `metadata`, which 1.19 accepts.
      await this.#call('create the collection', () =>
        this.#client.api().createCollection({
          collection_name: this.collection,
          vectors: { size: model.dimension, distance: model.distance },
          metadata: { nfr_model: model.model, nfr_dimension: model.dimension, nfr_distance: model.distance },
        }),
      );
    }
    return new QdrantWriter(this, model);
  }

  async search(vector: Float32Array, limit: number): Promise<SearchHit[]> {
    const r = await this.#call('query points', () => this.#client.query(this.collection, { query: Array.from(vector), limit, with_payload: true, with_vector: false }));
    return r.points.map((p) => {
      const pl = (p.payload ?? {}) as Record<string, unknown>;
      return {
        control_id: String(pl.control_id ?? p.id),
        title: String(pl.title ?? ''),
        status: typeof pl.status === 'string' ? pl.status : null,
        score: p.score,
        owning_function_id: typeof pl.owning_function_id === 'string' ? pl.owning_function_id : null,
        risk_theme_ids: Array.isArray(pl.risk_theme_ids) ? pl.risk_theme_ids.map(String) : [],
      };
    });
  }

  async close(): Promise<void> {}

  /** @internal used by the writer */
  async upsertPoints(points: readonly IndexPoint[]): Promise<void> {
    for (let i = 0; i < points.length; i += UPSERT_BATCH) {
      const batch = points.slice(i, i + UPSERT_BATCH).map((p) => ({ id: pointId(p.payload.control_id), vector: Array.from(p.vector), payload: { ...p.payload } }));
      await this.#call('upsert points', () => this.#client.upsert(this.collection, { wait: true, points: batch }));
    }
  }

  /** @internal used by the writer */
  async deletePoints(controlIds: readonly string[]): Promise<void> {
    for (let i = 0; i < controlIds.length; i += DELETE_BATCH) {
      const ids = controlIds.slice(i, i + DELETE_BATCH).map(pointId);
      await this.#call('delete points', () => this.#client.delete(this.collection, { wait: true, points: ids }));
    }
  }

  /** @internal used by the writer: records the PostgreSQL signature in the collection metadata. */
  async finish(model: IndexModel, sourceSignature: string): Promise<number> {
    await this.#call('update the collection metadata', () =>
      this.#client.api().updateCollection({
        collection_name: this.collection,
        metadata: { nfr_model: model.model, nfr_dimension: model.dimension, nfr_distance: model.distance, nfr_source_signature: sourceSignature },
      }),
    );
    return (await this.#call('count points', () => this.#client.count(this.collection, { exact: true }))).count;
  }

  /** For servers that dropped the collection metadata: the model every point carries. */
  async #modelFromPayload(): Promise<string | undefined> {
    const page = await this.#call('scroll points', () => this.#client.scroll(this.collection, { limit: 1, with_payload: ['model'], with_vector: false }));
    const model = (page.points[0]?.payload as Record<string, unknown> | undefined)?.model;
    return typeof model === 'string' ? model : undefined;
  }

  /** Runs one request; failures become NfrErrors naming the server (never the API key). */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw qdrantError(err, `${what} of ${this.collection}`, this.#url);
    }
  }
}

class QdrantWriter implements IndexWriter {
  constructor(
    readonly index: QdrantIndex,
    readonly model: IndexModel,
  ) {}

  upsert(points: readonly IndexPoint[]): Promise<void> {
    return this.index.upsertPoints(points);
  }

  delete(controlIds: readonly string[]): Promise<void> {
    return this.index.deletePoints(controlIds);
  }

  commit(sourceSignature: string): Promise<number> {
    return this.index.finish(this.model, sourceSignature);
  }

  /** Written points stay: each carries its text hash, so the next sync picks up where this one stopped. */
  async abort(): Promise<void> {}
}

/** An error of the Qdrant client as an NfrError: unreachable → DATABASE, error answer → TOOL_FAILED. */
export function qdrantError(err: unknown, what: string, url: string): NfrError {
  if (err instanceof NfrError) return err;
  const e = err as { status?: unknown; data?: unknown; message?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (typeof e.status === 'number') {
    const data = e.data as { status?: { error?: unknown } } | undefined;
    const reason = typeof data?.status?.error === 'string' ? data.status.error : String(e.message ?? '');
    const hint = e.status === 401 || e.status === 403 ? ' (check QDRANT_API_KEY)' : '';
    return new NfrError('TOOL_FAILED', `Qdrant at ${url} refused to ${what}: HTTP ${e.status} ${reason}${hint}`.trim(), { cause: err });
  }
  const code = typeof e.cause?.code === 'string' ? ` (${e.cause.code})` : '';
  const message = typeof e.cause?.message === 'string' ? e.cause.message : String(e.message ?? err);
  return new NfrError('DATABASE', `cannot reach Qdrant at ${url} to ${what}${code}: ${message}; check QDRANT_URL and that the server is running`, { cause: err });
}
