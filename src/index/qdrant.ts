/**
 * The Qdrant backend, through the official `@qdrant/js-client-rest` client. Requests address
 * `<QDRANT_COLLECTION_PREFIX>_controls`, an alias of the physical collection that holds the
 * points (see qdrant-collections.ts for why, and for deployments from before aliases), with one
 * unnamed dense vector per point.
 *
 * The model is recorded in the collection's `metadata` (Qdrant ≥ 1.16 stores it, and returns it in
 * the collection info) together with the PostgreSQL signature of the last sync. Servers that drop
 * unknown fields still carry the model in every point's payload, which describe() falls back to.
 *
 * Writes go straight to the collection (Qdrant has no multi-request transactions); a killed sync
 * leaves some points updated and the rest as before, which the next incremental sync completes,
 * because every point carries the hash of its text.
 */
import { NfrError } from '../errors.js';
import { pointId } from './point-id.js';
import { QdrantCollections, type QdrantOptions } from './qdrant-collections.js';
import { isEmptyFilter, modelMismatch, type IndexDescription, type IndexedEntry, type IndexModel, type IndexPoint, type IndexWriter, type SearchFilter, type SearchHit, type VectorIndex } from './types.js';

export { qdrantError, type QdrantOptions } from './qdrant-collections.js';

const SCROLL_PAGE = 1000;
const UPSERT_BATCH = 256;
const DELETE_BATCH = 1000;

export class QdrantIndex implements VectorIndex {
  readonly kind = 'qdrant' as const;
  readonly location: string;
  /** The name requests use: the alias (or, before aliases, the collection itself). */
  readonly collection: string;
  readonly collections: QdrantCollections;

  constructor(options: QdrantOptions) {
    this.collections = new QdrantCollections(options);
    this.collection = this.collections.live;
    this.location = `${this.collections.url} collection ${this.collection}`;
  }

  describe(): Promise<IndexDescription | undefined> {
    return this.collections.describe(this.collection);
  }

  async *entries(): AsyncIterable<readonly IndexedEntry[]> {
    let offset: string | number | undefined;
    for (;;) {
      const page = await this.#call('scroll points', () =>
        this.collections.client.scroll(this.collection, { limit: SCROLL_PAGE, offset, with_payload: ['control_id', 'text_hash', 'payload_hash'], with_vector: false }),
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
    if (!current || options.reset) await this.collections.replaceLive(model);
    return new QdrantWriter(this, model);
  }

  async search(vector: Float32Array, limit: number, filter?: SearchFilter): Promise<SearchHit[]> {
    const where = qdrantFilter(filter);
    const r = await this.#call('query points', () =>
      this.collections.client.query(this.collection, { query: Array.from(vector), limit, with_payload: true, with_vector: false, ...(where ? { filter: where } : {}) }),
    );
    return r.points.map((p) => {
      const pl = (p.payload ?? {}) as Record<string, unknown>;
      return {
        control_id: String(pl.control_id ?? p.id),
        title: String(pl.title ?? ''),
        status: typeof pl.status === 'string' ? pl.status : null,
        score: p.score,
        owning_function_id: typeof pl.owning_function_id === 'string' ? pl.owning_function_id : null,
        risk_theme_ids: Array.isArray(pl.risk_theme_ids) ? pl.risk_theme_ids.map(String) : [],
        owning_location_id: typeof pl.owning_location_id === 'string' ? pl.owning_location_id : null,
        family_id: typeof pl.family_id === 'string' ? pl.family_id : null,
        key_control: typeof pl.key_control === 'boolean' ? pl.key_control : null,
      };
    });
  }

  async close(): Promise<void> {}

  /** @internal used by the writer */
  async upsertPoints(points: readonly IndexPoint[]): Promise<void> {
    for (let i = 0; i < points.length; i += UPSERT_BATCH) {
      const batch = points.slice(i, i + UPSERT_BATCH).map((p) => ({ id: pointId(p.payload.control_id), vector: Array.from(p.vector), payload: { ...p.payload } }));
      await this.#call('upsert points', () => this.collections.client.upsert(this.collection, { wait: true, points: batch }));
    }
  }

  /** @internal used by the writer */
  async deletePoints(controlIds: readonly string[]): Promise<void> {
    for (let i = 0; i < controlIds.length; i += DELETE_BATCH) {
      const ids = controlIds.slice(i, i + DELETE_BATCH).map(pointId);
      await this.#call('delete points', () => this.collections.client.delete(this.collection, { wait: true, points: ids }));
    }
  }

  /** @internal used by the writer: records the PostgreSQL signature in the collection metadata. */
  async finish(model: IndexModel, sourceSignature: string): Promise<number> {
    await this.#call('update the collection metadata', () =>
      this.collections.client.api().updateCollection({
        collection_name: this.collection,
        metadata: { nfr_model: model.model, nfr_dimension: model.dimension, nfr_distance: model.distance, nfr_source_signature: sourceSignature },
      }),
    );
    return (await this.#call('count points', () => this.collections.client.count(this.collection, { exact: true }))).count;
  }

  /** Runs one request on the live name; failures name the server and the collection (never the key). */
  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return this.collections.call(`${what} of ${this.collection}`, () => fn());
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

/**
 * A search filter as a Qdrant payload filter: every condition must hold (`must`); a list matches
 * any of its values (`match.any`), a flag its value (`match.value`). Undefined without conditions.
 */
export function qdrantFilter(filter: SearchFilter | undefined): { must: Record<string, unknown>[] } | undefined {
  if (filter === undefined || isEmptyFilter(filter)) return undefined;
  const must: Record<string, unknown>[] = [];
  const anyOf = (key: string, values: readonly string[] | undefined) => {
    if (values !== undefined && values.length > 0) must.push({ key, match: { any: [...values] } });
  };
  anyOf('status', filter.status);
  anyOf('owning_function_id', filter.owning_function_id);
  anyOf('owning_location_id', filter.owning_location_id);
  anyOf('family_id', filter.family_id);
  anyOf('risk_theme_ids', filter.risk_theme_id);
  if (filter.key_control !== undefined) must.push({ key: 'key_control', match: { value: filter.key_control } });
  return { must };
}
