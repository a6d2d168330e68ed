/**
 * `nfr search`: embeds the query with the configured embedder and returns the nearest controls.
 * It searches whatever is indexed; when the controls changed since the last `nfr index` (the
 * PostgreSQL signature recorded at sync differs from the current one) it says so in `warnings`.
 */
import type { Config } from '../config.js';
import { createEmbedder } from '../enrich/create-embedder.js';
import type { Embedder } from '../enrich/embedder.js';
import { NfrError, messageOf } from '../errors.js';
import { resolveTarget, withClient } from '../postgres/connection.js';
import { openIndex } from './open-index.js';
import { pgSignature } from './pg-source.js';
import { modelMismatch, type IndexModel, type SearchHit, type VectorIndex } from './types.js';

export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 100;

export interface SearchOptions {
  readonly limit?: number;
  /** Compare the index with PostgreSQL and warn when it is out of date (default true). */
  readonly checkFreshness?: boolean;
  readonly embedder?: Embedder;
  readonly index?: VectorIndex;
  /** How to read PostgreSQL's current signature (the server passes one on its pool, cached). */
  readonly signature?: () => Promise<string>;
}

export interface SearchResult {
  readonly query: string;
  readonly limit: number;
  readonly backend: VectorIndex['kind'];
  readonly location: string;
  readonly model: IndexModel;
  readonly index_points: number;
  readonly results: SearchHit[];
  readonly warnings: string[];
}

/** The `limit` controls nearest to `query`, best first. */
export async function searchControls(config: Config, query: string, options: SearchOptions = {}): Promise<SearchResult> {
  const text = query.trim();
  if (text === '') throw new NfrError('USAGE', 'search needs a non-empty query text');
  const limit = options.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new NfrError('USAGE', `limit ${limit}: expected an integer from 1 to ${MAX_LIMIT}`);
  const index = options.index ?? openIndex(config);
  try {
    const description = await index.describe();
    if (!description) throw new NfrError('NOT_FOUND', `no vector index at ${index.location} yet; build it with \`nfr index\``);
    const embedder = options.embedder ?? createEmbedder(config);
    const [vector] = await embedder.embed([text]);
    if (!vector) throw new NfrError('TOOL_FAILED', `embedder "${embedder.model}" returned no vector for the query`);
    // The query's own vector tells the dimension, so an endpoint embedder needs no probe request.
    const model: IndexModel = { model: embedder.model, dimension: vector.length, distance: embedder.distance };
    const mismatch = modelMismatch(description, model);
    if (mismatch) throw new NfrError('SCHEMA_MISMATCH', `${mismatch}; rebuild the index with \`nfr index --force\``);
    const results = await index.search(vector, limit);
    const warnings: string[] = [];
    if (options.checkFreshness !== false) {
      try {
        const current = options.signature ? await options.signature() : await withClient(await resolveTarget(config), pgSignature, 'nfr search');
        if (current !== description.source_signature) warnings.push('the index is out of date: controls changed since the last `nfr index`; results may miss or show old controls');
      } catch (err) {
        warnings.push(`could not compare the index with PostgreSQL: ${messageOf(err)}`);
      }
    }
    return { query: text, limit, backend: index.kind, location: index.location, model, index_points: description.points, results, warnings };
  } finally {
    await index.close();
  }
}
