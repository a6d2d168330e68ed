/**
 * The vector index as the rest of the product sees it: two backends (the embedded on-disk index
 * and Qdrant) behind one interface, so sync, check and search never know which one they talk to.
 */
import { createHash } from 'node:crypto';
import type { z } from 'zod';
import type { indexModelSchema, pointPayloadSchema, searchHitSchema } from './shapes.js';

/** What an index was built with; opening it with another embedder is refused. */
export type IndexModel = Readonly<z.infer<typeof indexModelSchema>>;

/** An existing index: its model, size, and the PostgreSQL state it was last synced with. */
export interface IndexDescription extends IndexModel {
  readonly points: number;
  /** Signature of src_controls_ver_control at the last sync (see pgSignature); null if unknown. */
  readonly source_signature: string | null;
}

/** The payload of one point: enough to show a result and to compare with PostgreSQL. */
export type PointPayload = Readonly<z.infer<typeof pointPayloadSchema>>;

export interface IndexPoint {
  readonly vector: Float32Array;
  readonly payload: PointPayload;
}

/** What sync and check need to know of a point: which control and which text it holds. */
export interface IndexedEntry {
  readonly control_id: string;
  readonly text_hash: string;
  readonly payload_hash: string;
}

/** A hit of a vector search, as either backend answers it. */
export type SearchHit = Readonly<z.infer<typeof searchHitSchema>>;

/**
 * Search filters, all optional, combined with AND; a list matches any of its values. Applied by
 * both backends to the point payloads (Qdrant: a payload filter) and by keyword search in SQL.
 */
export interface SearchFilter {
  readonly status?: readonly string[];
  readonly owning_function_id?: readonly string[];
  readonly owning_location_id?: readonly string[];
  readonly risk_theme_id?: readonly string[];
  readonly family_id?: readonly string[];
  readonly key_control?: boolean;
}

export function isEmptyFilter(f: SearchFilter | undefined): boolean {
  return f === undefined || Object.values(f).every((v) => v === undefined || (Array.isArray(v) && v.length === 0));
}

/** The attributes filters look at. */
export type FilterFields = Pick<PointPayload, 'status' | 'owning_function_id' | 'owning_location_id' | 'family_id' | 'key_control' | 'risk_theme_ids'>;

/** Whether a point's payload (or a control's attributes) passes the filter. */
export function matchesFilter(p: FilterFields, f: SearchFilter): boolean {
  const any = (want: readonly string[] | undefined, have: string | null) => want === undefined || want.length === 0 || (have !== null && want.includes(have));
  if (!any(f.status, p.status) || !any(f.owning_function_id, p.owning_function_id) || !any(f.owning_location_id, p.owning_location_id) || !any(f.family_id, p.family_id)) return false;
  if (f.key_control !== undefined && p.key_control !== f.key_control) return false;
  if (f.risk_theme_id !== undefined && f.risk_theme_id.length > 0 && !p.risk_theme_ids.some((t) => f.risk_theme_id?.includes(t))) return false;
  return true;
}

/** A batch of writes. Embedded: nothing is visible until commit, and a crash leaves the old index. */
export interface IndexWriter {
  upsert(points: readonly IndexPoint[]): Promise<void>;
  delete(controlIds: readonly string[]): Promise<void>;
  /** Makes the writes visible and records the source signature; returns the number of points. */
  commit(sourceSignature: string): Promise<number>;
  /** Discards what commit has not made visible. */
  abort(): Promise<void>;
}

export interface VectorIndex {
  readonly kind: 'embedded' | 'qdrant';
  /** Where it lives, for messages: a directory, or the Qdrant URL and collection (never a key). */
  readonly location: string;
  /** The index's model and size, or undefined when it does not exist yet. */
  describe(): Promise<IndexDescription | undefined>;
  /** Every point's control id and hashes, in batches, without vectors. */
  entries(): AsyncIterable<readonly IndexedEntry[]>;
  /**
   * Starts writing. `reset` (or a missing index) starts from an empty index with this model;
   * otherwise the index's model must equal `model`.
   */
  begin(model: IndexModel, options: { reset: boolean }): Promise<IndexWriter>;
  /** The `limit` nearest points to `vector` that pass `filter`, best first. */
  search(vector: Float32Array, limit: number, filter?: SearchFilter): Promise<SearchHit[]>;
  /** Loads ahead what searches will need (the embedded index's resident generation), if anything. */
  warm?(): Promise<void>;
  /** Why searches are slower than they could be (the resident copy does not fit in memory), after a search. */
  memoryNote?(): string | undefined;
  close(): Promise<void>;
}

/** Hash of the payload fields other than the text, in a fixed order. */
export function payloadHash(p: Omit<PointPayload, 'payload_hash' | 'text_hash'>): string {
  const canonical = JSON.stringify([p.control_id, p.title, p.status, p.owning_function_id, [...p.risk_theme_ids].sort(), p.model, p.owning_location_id, p.family_id, p.key_control]);
  return createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, 32);
}

/** A model mismatch as text, or undefined when the index fits the embedder. */
export function modelMismatch(index: IndexModel, embedder: IndexModel): string | undefined {
  if (index.model === embedder.model && index.dimension === embedder.dimension && index.distance === embedder.distance) return undefined;
  return `the index was built with model "${index.model}" (dimension ${index.dimension}, ${index.distance}) but the embedder is "${embedder.model}" (dimension ${embedder.dimension}, ${embedder.distance})`;
}
