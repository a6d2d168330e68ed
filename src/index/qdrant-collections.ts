/**
 * What the Qdrant backend keeps on the server, how it is named, and the requests that manage it.
 *
 * Qdrant cannot rename a collection, so a full restore cannot build the new index under a
 * temporary name and rename it into place as the embedded index does. Instead the name every
 * request uses, `<prefix>_controls`, is an alias pointing at a physical collection
 * `<prefix>_controls_nfr_<stamp>`. Point and collection-info requests resolve aliases on the
 * server (count, scroll, query, upsert, delete, exists, info, metadata update), so they keep
 * addressing `<prefix>_controls`. A restore uploads its snapshot into a new physical collection
 * and then moves the alias with one POST /collections/aliases request, which Qdrant applies
 * under its collections lock: no request ever sees a half-switched index. The collection the
 * restore replaced stays reachable through the alias `<prefix>_controls_nfr_prev` for
 * `restore --undo`; the one that alias held before is deleted.
 *
 * Deployments from before aliases have a real collection named `<prefix>_controls`. Everything
 * except a full restore and a rebuild keeps working on it as it is. A rebuild (`nfr index
 * --force`) replaces it with an aliased collection; a full restore first copies it, through
 * Qdrant's own snapshot of it, into a physical collection that becomes the "previous" one, and
 * replaces it by the alias only after the PostgreSQL swap (see qdrant-snapshot.ts).
 */
import { randomBytes } from 'node:crypto';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { Distance } from '../enrich/embedder.js';
import { NfrError } from '../errors.js';
import type { IndexDescription, IndexModel } from './types.js';

export interface QdrantOptions {
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly collectionPrefix: string;
  /** Request timeout in milliseconds. */
  readonly timeoutMs?: number;
}

/** What `<prefix>_controls` is on the server. */
export type LiveCollection =
  | { readonly kind: 'alias'; readonly collection: string }
  /** A real collection under the name itself: a deployment from before aliases. */
  | { readonly kind: 'collection'; readonly collection: string }
  | { readonly kind: 'none' };

export interface AliasState {
  readonly live: LiveCollection;
  /** The physical collection `<prefix>_controls_nfr_prev` points at, if any. */
  readonly previous: string | undefined;
}

interface CollectionMetadata {
  readonly nfr_model?: unknown;
  readonly nfr_source_signature?: unknown;
}

export class QdrantCollections {
  /** The name every request uses: an alias, or (before aliases) the collection itself. */
  readonly live: string;
  /** The alias of the collection the last full restore replaced. */
  readonly previous: string;
  readonly url: string;
  readonly apiKey: string | undefined;
  readonly timeoutMs: number;
  readonly client: QdrantClient;

  constructor(options: QdrantOptions) {
    this.live = `${options.collectionPrefix}_controls`;
    this.previous = `${this.live}_nfr_prev`;
    this.url = options.url.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    // The version probe would fire an unawaited request and print warnings; compatibility is the
    // operator's call (the request shapes are checked against the 1.19 API in the tests).
    this.client = new QdrantClient({ url: this.url, apiKey: options.apiKey, checkCompatibility: false, timeout: this.timeoutMs });
  }

  /** A new physical collection name: `<prefix>_controls_nfr_<UTC time>_<random>`, sortable by age. */
  physicalName(): string {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'z').toLowerCase();
    return `${this.live}_nfr_${stamp}_${randomBytes(3).toString('hex')}`;
  }

  /** Runs one request; failures become NfrErrors naming the server (never the API key). */
  async call<T>(what: string, fn: (client: QdrantClient) => Promise<T>): Promise<T> {
    try {
      return await fn(this.client);
    } catch (err) {
      throw qdrantError(err, what, this.url);
    }
  }

  /** Where `<prefix>_controls` and `<prefix>_controls_nfr_prev` point. */
  async state(): Promise<AliasState> {
    const { aliases } = await this.call('list aliases', (c) => c.getAliases());
    const target = aliases.find((a) => a.alias_name === this.live)?.collection_name;
    const previous = aliases.find((a) => a.alias_name === this.previous)?.collection_name;
    if (target !== undefined) return { live: { kind: 'alias', collection: target }, previous };
    const { exists } = await this.call(`check collection ${this.live}`, (c) => c.collectionExists(this.live));
    return { live: exists ? { kind: 'collection', collection: this.live } : { kind: 'none' }, previous };
  }

  /** Model, size and last sync of a collection (or alias), undefined when it does not exist. */
  async describe(name: string): Promise<IndexDescription | undefined> {
    const { exists } = await this.call(`check collection ${name}`, (c) => c.collectionExists(name));
    if (!exists) return undefined;
    const info = await this.call(`read the info of collection ${name}`, (c) => c.getCollection(name));
    const vectors = info.config.params.vectors as { size?: unknown; distance?: unknown } | undefined;
    if (!vectors || typeof vectors.size !== 'number' || typeof vectors.distance !== 'string') {
      throw new NfrError('SCHEMA_MISMATCH', `Qdrant collection ${name} at ${this.url} has no single unnamed vector; it was not made by nfr: delete it or set QDRANT_COLLECTION_PREFIX`);
    }
    const meta = ((info.config as { metadata?: CollectionMetadata | null }).metadata ?? {}) as CollectionMetadata;
    const model = typeof meta.nfr_model === 'string' ? meta.nfr_model : await this.#modelFromPayload(name);
    const points = await this.call(`count the points of collection ${name}`, (c) => c.count(name, { exact: true }));
    return {
      model: model ?? 'unknown',
      dimension: vectors.size,
      distance: vectors.distance as Distance,
      points: points.count,
      source_signature: typeof meta.nfr_source_signature === 'string' ? meta.nfr_source_signature : null,
    };
  }

  /** An empty collection with one unnamed vector and the model in its metadata. */
  async create(name: string, model: IndexModel): Promise<void> {
    // The low-level call: the 1.18 client's createCollection() drops `metadata`, which 1.19 accepts.
    await this.call(`create collection ${name}`, (c) =>
      c.api().createCollection({
        collection_name: name,
        vectors: { size: model.dimension, distance: model.distance },
        metadata: { nfr_model: model.model, nfr_dimension: model.dimension, nfr_distance: model.distance },
      }),
    );
  }

  /** Deletes a physical collection (never an alias: Qdrant does not resolve them on delete). */
  async drop(name: string): Promise<boolean> {
    return this.call(`delete collection ${name}`, (c) => c.deleteCollection(name));
  }

  /** Deletes every snapshot the server keeps of a collection; returns their names. */
  async dropSnapshots(name: string): Promise<string[]> {
    const list = await this.call(`list the snapshots of collection ${name}`, (c) => c.listSnapshots(name));
    for (const s of list) await this.call(`delete snapshot ${s.name} of collection ${name}`, (c) => c.deleteSnapshot(name, s.name, { wait: true }));
    return list.map((s) => s.name);
  }

  /**
   * Points `<prefix>_controls` at `live` and `<prefix>_controls_nfr_prev` at `previous` (null:
   * no alias) in ONE request, which Qdrant applies atomically. `current` is the state it replaces.
   */
  async pointAliases(live: string | null, previous: string | null, current: AliasState): Promise<void> {
    const actions: ({ delete_alias: { alias_name: string } } | { create_alias: { collection_name: string; alias_name: string } })[] = [];
    if (current.live.kind === 'alias') actions.push({ delete_alias: { alias_name: this.live } });
    if (live !== null) actions.push({ create_alias: { collection_name: live, alias_name: this.live } });
    if (previous !== (current.previous ?? null)) {
      if (current.previous !== undefined) actions.push({ delete_alias: { alias_name: this.previous } });
      if (previous !== null) actions.push({ create_alias: { collection_name: previous, alias_name: this.previous } });
    }
    if (actions.length === 0) return;
    await this.call(`point alias ${this.live} at ${live ?? '(nothing)'} and ${this.previous} at ${previous ?? '(nothing)'}`, (c) => c.updateCollectionAliases({ actions }));
  }

  /**
   * A new empty index for `nfr index` (first sync or --force): a new physical collection, the
   * alias moved to it, the replaced one deleted. A collection from before aliases is deleted first,
   * since Qdrant refuses an alias with a collection's name (its points are being rebuilt anyway).
   */
  async replaceLive(model: IndexModel): Promise<void> {
    const current = await this.state();
    const fresh = this.physicalName();
    await this.create(fresh, model);
    try {
      if (current.live.kind === 'collection') await this.drop(this.live);
      await this.pointAliases(fresh, current.previous ?? null, current);
    } catch (err) {
      await this.drop(fresh).catch(() => {});
      throw err;
    }
    if (current.live.kind === 'alias' && current.live.collection !== current.previous) await this.drop(current.live.collection);
  }

  /** For servers that dropped the collection metadata: the model every point carries. */
  async #modelFromPayload(name: string): Promise<string | undefined> {
    const page = await this.call(`scroll the points of collection ${name}`, (c) => c.scroll(name, { limit: 1, with_payload: ['model'], with_vector: false }));
    const model = (page.points[0]?.payload as Record<string, unknown> | undefined)?.model;
    return typeof model === 'string' ? model : undefined;
  }
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
  const code = typeof e.cause?.code === 'string' ? ` (${e.cause.code})` : typeof (e as { code?: unknown }).code === 'string' ? ` (${String((e as { code?: unknown }).code)})` : '';
  const message = typeof e.cause?.message === 'string' ? e.cause.message : String(e.message ?? err);
  return new NfrError('DATABASE', `cannot reach Qdrant at ${url} to ${what}${code}: ${message}; check QDRANT_URL and that the server is running`, { cause: err });
}
