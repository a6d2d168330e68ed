/**
 * Control search, in four modes:
 *
 *   hybrid    (default) keyword and semantic rankings fused by their relative scores, with exact
 *             id matches first. It needs the vector index, like semantic (no index, or one built
 *             by another model, is an error: never results silently missing half their ranking).
 *   keyword   BM25 over PostgreSQL's full-text vectors (keyword.ts).
 *   semantic  the vector index (embedded or Qdrant) with the configured embedder.
 *   id        controls whose id is the query or starts with it (AC-2, ac-2.1).
 *
 * Relative score fusion (as Weaviate's relativeScoreFusion): each ranking's scores are scaled to
 * 0..1 between its best and its FUSION_DEPTH-th result, and a control scores w × keyword +
 * (1 − w) × semantic, w = NFR_SEARCH_KEYWORD_WEIGHT (0.7 with the hashing embedder, which matches
 * words too, less well than BM25; 0.4 with GloVe, whose ranking is worth more once the
 * vocabulary's common directions are out of its vectors: bench/search, README).
 * Unlike reciprocal rank fusion it keeps how far apart results are: a control BM25 finds far
 * ahead of the rest stays ahead although the hash embedder ranks it only twentieth. On the 53
 * bench questions it finds the expected family in the top five for 83 % (reciprocal rank fusion,
 * k = 60: 77 %; keyword alone 81 %). The scaling window is fixed, so the scores, and so the
 * pages, do not depend on how deep a page reaches. Measured again on 62 questions (bench/search,
 * control level, hit@5, hashing embedder): relative fusion at 0.7 75.8 %; reciprocal rank fusion
 * (k 5, 20, 60) at most 72.9 %, z-score normalisation at most 71.2 %; weights 0.5 to 0.8 no better.
 * Pseudo-relevance feedback on the keyword ranking (the top 3 to 10 controls' best 5 to 20 terms)
 * and title boosts of 1 to 4 did not raise it either: the misses are meanings the controls say in
 * other words, which only the dense ranking bridges. Compounds: compounds.ts. Filters apply to every mode (SQL for keyword
 * and id, payload filters in the index for semantic). Pages are cut from the fused ranking; the
 * cursor holds the offset and a fingerprint of the query, so it cannot be used with another one.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { Config } from '../config.js';
import { createEmbedder } from '../enrich/create-embedder.js';
import type { Embedder } from '../enrich/embedder.js';
import { NfrError, messageOf } from '../errors.js';
import { openIndex } from '../index/open-index.js';
import { ResidentDoesNotFit } from '../index/resident-budget.js';
import { pgSignature } from '../index/pg-source.js';
import { isEmptyFilter, matchesFilter, modelMismatch, type IndexModel, type SearchFilter, type VectorIndex } from '../index/types.js';
import { STATUSES } from '../ingest/controls-csv.js';
import { resolveTarget, withClient } from '../postgres/connection.js';
import { currentRows, idMatches, idTokens, keywordSearch } from './keyword.js';
import { joinKnownCompounds, queryCompounds, sqlVocabulary } from './compounds.js';
import { queryLexemes, type ResidentKeywordIndex } from './keyword-resident.js';
import type { z } from 'zod';
import type { controlHitSchema, searchResultSchema } from './shapes.js';

export const SEARCH_MODES = ['hybrid', 'keyword', 'semantic', 'id'] as const;
export type SearchMode = (typeof SEARCH_MODES)[number];
export const DEFAULT_LIMIT = 10;
export const MAX_LIMIT = 100;
/** How deep paging may go: offset + limit. Deeper, refine the query or the filters. */
export const MAX_DEPTH = 1000;
/** Each ranking contributes at least this many candidates to the fusion. */
const FUSION_DEPTH = 50;

export interface SearchRequest {
  readonly q: string;
  readonly mode?: SearchMode;
  readonly filter?: SearchFilter;
  readonly limit?: number;
  readonly cursor?: string;
}

export interface SearchDeps {
  readonly embedder?: Embedder;
  readonly index?: VectorIndex;
  /** Runs `fn` with a PostgreSQL client (the server lends one from its pool). */
  readonly withClient?: <T>(fn: (client: pg.ClientBase) => Promise<T>) => Promise<T>;
  /** PostgreSQL's current signature, compared with the index's (the server passes a cached one). */
  readonly signature?: () => Promise<string>;
  /** Compare the index with PostgreSQL and warn when it is out of date (default true). */
  readonly checkFreshness?: boolean;
  /** The keyword index held in memory (the server's); without it keyword ranking runs in SQL. */
  readonly keywords?: () => Promise<ResidentKeywordIndex>;
}

export type ControlHit = z.infer<typeof controlHitSchema>;

/** Defined once, in search/shapes.ts (the API's response schema is generated from it). */
export type SearchResult = z.infer<typeof searchResultSchema>;

function fingerprint(q: string, mode: SearchMode, filter: SearchFilter): string {
  const canonical = JSON.stringify([q, mode, Object.entries(filter).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b))]);
  return createHash('sha256').update(canonical).digest('base64url').slice(0, 12);
}

function encodeCursor(offset: number, print: string): string {
  return Buffer.from(JSON.stringify({ o: offset, f: print })).toString('base64url');
}

function decodeCursor(cursor: string, print: string): number {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    parsed = undefined;
  }
  const c = parsed as { o?: unknown; f?: unknown } | undefined;
  if (!c || typeof c.o !== 'number' || !Number.isInteger(c.o) || c.o < 0 || typeof c.f !== 'string') {
    throw new NfrError('INVALID_INPUT', 'cursor: not a cursor this search returned (use next_cursor as it was given)');
  }
  if (c.f !== print) throw new NfrError('INVALID_INPUT', 'cursor: it belongs to another query, mode or filter; start again without a cursor');
  return c.o;
}

export function parseSearchMode(value: string | undefined, where: string): SearchMode {
  if (value === undefined) return 'hybrid';
  if ((SEARCH_MODES as readonly string[]).includes(value)) return value as SearchMode;
  throw new NfrError('USAGE', `${where} ${value}: expected one of ${SEARCH_MODES.join(', ')}`);
}

/** A control in a ranking: what a result shows of it (fromRow picks it out) and its score. */
type Ranked = { readonly row: Omit<ControlHit, 'score' | 'match'>; readonly score: number };

/** Ties of the fused ranking in control id order (the collator of localeCompare, made once). */
const byControlId = new Intl.Collator().compare;

/** What a result shows of a control, from PostgreSQL's current version or the index payload. */
function fromRow(r: Omit<ControlHit, 'score' | 'match'>): Omit<ControlHit, 'score' | 'match'> {
  return {
    control_id: r.control_id,
    title: r.title,
    status: r.status,
    family_id: r.family_id,
    key_control: r.key_control,
    owning_function_id: r.owning_function_id,
    owning_location_id: r.owning_location_id,
    risk_theme_ids: r.risk_theme_ids,
  };
}

export async function searchControls(config: Config, request: SearchRequest, deps: SearchDeps = {}): Promise<SearchResult> {
  const q = request.q.trim();
  if (q === '') throw new NfrError('USAGE', 'search needs a non-empty query text');
  // PostgreSQL text cannot hold NUL: refused here, named, rather than failing in a query.
  if (q.includes('\u0000')) throw new NfrError('INVALID_INPUT', 'q: the query contains a NUL character (\\0, %00); send the text without it');
  const mode = request.mode ?? 'hybrid';
  const filter = request.filter ?? {};
  for (const [name, value] of Object.entries(filter)) {
    if (Array.isArray(value) && value.some((v) => typeof v === 'string' && v.includes('\u0000'))) throw new NfrError('INVALID_INPUT', `${name}: a filter value contains a NUL character (\\0, %00); send it without it`);
  }
  // Status is a closed set: a misspelt one ("actve", "Active") would match nothing and look like
  // an empty catalogue, so it is refused naming the values that exist.
  const badStatus = filter.status?.find((s) => !(STATUSES as readonly string[]).includes(s));
  if (badStatus !== undefined) throw new NfrError('INVALID_INPUT', `status "${badStatus}" is not a control status; use ${STATUSES.join(', ')}`);
  const limit = request.limit ?? DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw new NfrError('USAGE', `limit ${limit}: expected an integer from 1 to ${MAX_LIMIT}`);
  const print = fingerprint(q, mode, filter);
  const offset = request.cursor === undefined ? 0 : decodeCursor(request.cursor, print);
  const depth = offset + limit + 1;
  if (depth > MAX_DEPTH + 1) throw new NfrError('INVALID_INPUT', `cursor: pages end at result ${MAX_DEPTH}; narrow the query or add filters`);
  const pgClient = deps.withClient ?? (async <T>(fn: (c: pg.ClientBase) => Promise<T>) => withClient(await resolveTarget(config), fn, 'nfr search'));
  const warnings: string[] = [];

  const ranksKeywords = mode === 'keyword' || mode === 'hybrid';
  // The server's resident keyword index, when it has one that fits; else ranking runs in SQL.
  // Asked for before a client is checked out: it reads the data signature (and is rebuilt) on the
  // same pool, and ten requests each holding a client while waiting for an eleventh would stall a
  // pool of ten until its connection timeout.
  const resident = ranksKeywords ? await residentKeywordIndex(deps, warnings) : undefined;

  // PostgreSQL first: the query's words (a query of stop words only is refused before any
  // ranking runs), the id matches and the keyword ranking.
  const { ids, keyword } = await pgClient(async (client) => {
    const words = mode === 'id' ? { lexemes: [], joined: [], headStems: new Map() } : await queryLexemes(client, q);
    // Only the query's own words decide whether there is anything to search for; its joined
    // pairs (back up → backup) are added to the keyword ranking's words.
    let lexemes = [...words.lexemes, ...words.joined];
    if (mode !== 'id' && words.lexemes.length === 0) {
      throw new NfrError('INVALID_INPUT', `q "${q.length > 80 ? `${q.slice(0, 77)}...` : q}": nothing to search for: every word is a stop word (the, of, and, ...) or punctuation; add words that say what the control is about`);
    }
    // Compounds settled against the controls' vocabulary: split forms in the controls, and the
    // heads of compounds no control uses (compounds.ts).
    const vocabulary = resident ? async (l: readonly string[]) => resident.known(l) : sqlVocabulary(client);
    const compounds = ranksKeywords ? await queryCompounds(client, lexemes, vocabulary, words.headStems) : { heads: [], postings: [], known: [] };
    const rewritten = joinKnownCompounds(q, compounds.known);
    if (rewritten !== q) {
      const again = await queryLexemes(client, rewritten);
      lexemes = [...again.lexemes, ...again.joined];
    }
    lexemes = [...new Set([...lexemes, ...compounds.heads])];
    const keywordDepth = Math.max(depth, mode === 'hybrid' ? FUSION_DEPTH : 0);
    return {
      ids: mode === 'id' ? await idMatches(client, [q.toUpperCase()], filter, { prefix: true, limit: depth }) : mode === 'hybrid' ? await idMatches(client, idTokens(q), filter, { prefix: false, limit: depth }) : [],
      keyword: !ranksKeywords
        ? []
        : resident
          ? resident.search(lexemes, isEmptyFilter(filter) ? undefined : filter, keywordDepth, compounds.postings)
          : await keywordSearch(client, lexemes, filter, keywordDepth, compounds.postings),
    };
  });

  let semantic: { hits: Ranked[]; backend: VectorIndex['kind']; location: string; model: IndexModel; points: number } | undefined;
  if (mode === 'semantic' || mode === 'hybrid') {
    // No index, or one built by another model, is an error in hybrid mode too (never results that
    // silently lack half their ranking); the message names both ways on.
    try {
      semantic = await semanticRanking(config, q, filter, Math.max(depth, mode === 'hybrid' ? FUSION_DEPTH : 0), deps, warnings);
    } catch (err) {
      if (mode === 'hybrid' && err instanceof NfrError && (err.code === 'NOT_FOUND' || err.code === 'SCHEMA_MISMATCH')) {
        throw new NfrError(err.code, `${err.message} (or search without the vector index: --mode keyword)`, { cause: err });
      }
      throw err;
    }
    // Results are controls of the live database, shown as they are there now: a hit of an index
    // that is behind (a control deleted, or the database restored without --resync) is dropped,
    // as is one whose current attributes no longer pass the filter.
    if (semantic.hits.length > 0) {
      const hits = semantic.hits;
      const hitIds = hits.map((h) => h.row.control_id);
      // The server's resident keyword index holds the current rows (of a signature at most a
      // second old, as the keyword ranking beside them): no second query.
      const rows = resident ? resident.rows(hitIds) : await pgClient((client) => currentRows(client, hitIds));
      const live = new Map(rows.map((r) => [r.control_id, r]));
      const kept = hits.flatMap((h) => {
        const row = live.get(h.row.control_id);
        return row && (isEmptyFilter(filter) || matchesFilter(row, filter)) ? [{ row, score: h.score }] : [];
      });
      const dropped = hits.length - kept.length;
      if (dropped > 0) warnings.push(`${dropped} index hit(s) dropped: not current controls of the database (or no longer passing the filter); run \`nfr index\` to bring the index up to date`);
      semantic = { ...semantic, hits: kept };
    }
  }

  const keywordRank = new Map(keyword.map((h, i) => [h.control_id, i + 1]));
  const semanticRank = new Map((semantic?.hits ?? []).map((h, i) => [h.row.control_id, i + 1]));
  const idSet = new Set(ids.map((r) => r.control_id));
  const match = (id: string) => ({ id: idSet.has(id), keyword_rank: keywordRank.get(id) ?? null, semantic_rank: semanticRank.get(id) ?? null });

  // Ranked entries first, result objects only for the page.
  let ranked: Ranked[];
  if (mode === 'id') {
    ranked = ids.map((r) => ({ row: r, score: 1 }));
  } else if (mode === 'keyword') {
    ranked = keyword.map((h) => ({ row: h, score: round(h.score) }));
  } else if (mode === 'semantic') {
    ranked = (semantic?.hits ?? []).map((h) => ({ row: h.row, score: h.score }));
  } else {
    const fused = new Map<string, { row: Omit<ControlHit, 'score' | 'match'>; score: number }>();
    const add = (row: Omit<ControlHit, 'score' | 'match'>, score: number) => {
      // The first ranking to name a control gives its attributes: keyword (PostgreSQL's current
      // version) before the index payload.
      const entry = fused.get(row.control_id);
      if (entry) entry.score += score;
      else fused.set(row.control_id, { row, score });
    };
    const semanticHits = semantic?.hits ?? [];
    // Euclid reports a distance, lower is better: scaled as its negation.
    const better = semantic?.model.distance === 'Euclid' ? (s: number) => -s : (s: number) => s;
    const keywordScale = relativeScale(keyword.map((h) => h.score));
    const semanticScale = relativeScale(semanticHits.map((h) => better(h.score)));
    const w = config.searchKeywordWeight;
    for (const h of keyword) add(h, w * keywordScale(h.score));
    for (const h of semanticHits) add(h.row, (1 - w) * semanticScale(better(h.score)));
    const byScore = [...fused.values()].sort((a, b) => b.score - a.score || byControlId(a.row.control_id, b.row.control_id));
    const first = ids.map((r) => ({ row: r, score: round(1 + (fused.get(r.control_id)?.score ?? 0)) }));
    ranked = [...first, ...byScore.filter((e) => !idSet.has(e.row.control_id)).map((e) => ({ row: e.row, score: round(e.score) }))];
  }

  const page = ranked.slice(offset, offset + limit).map((e): ControlHit => ({ ...fromRow(e.row), score: e.score, match: match(e.row.control_id) }));
  const more = ranked.length > offset + limit && offset + limit < MAX_DEPTH;
  return {
    query: q,
    mode,
    filter,
    limit,
    offset,
    results: page,
    next_cursor: more ? encodeCursor(offset + limit, print) : null,
    backend: semantic?.backend ?? null,
    location: semantic?.location ?? null,
    model: semantic?.model ?? null,
    index_points: semantic?.points ?? null,
    warnings,
  };
}

/** The server's resident keyword index; none without one, or when it does not fit NFR_INDEX_MEMORY_MB (then why, in the warnings). */
async function residentKeywordIndex(deps: SearchDeps, warnings: string[]): Promise<ResidentKeywordIndex | undefined> {
  if (!deps.keywords) return undefined;
  try {
    return await deps.keywords();
  } catch (err) {
    // Too large for NFR_INDEX_MEMORY_MB: ranked in PostgreSQL, and the answer says why it is slow.
    if (!(err instanceof ResidentDoesNotFit)) throw err;
    warnings.push(err.message);
    return undefined;
  }
}

async function semanticRanking(
  config: Config,
  q: string,
  filter: SearchFilter,
  depth: number,
  deps: SearchDeps,
  warnings: string[],
): Promise<{ hits: Ranked[]; backend: VectorIndex['kind']; location: string; model: IndexModel; points: number }> {
  const index = deps.index ?? openIndex(config);
  try {
    const description = await index.describe();
    if (!description) throw new NfrError('NOT_FOUND', `no vector index at ${index.location} yet; build it with \`nfr index\``);
    const embedder = deps.embedder ?? createEmbedder(config);
    const [vector] = await embedder.embed([q]);
    if (!vector) throw new NfrError('TOOL_FAILED', `embedder "${embedder.model}" returned no vector for the query`);
    // The query's own vector tells the dimension, so an endpoint embedder needs no probe request.
    const model: IndexModel = { model: embedder.model, dimension: vector.length, distance: embedder.distance };
    const mismatch = modelMismatch(description, model);
    if (mismatch) throw new NfrError('SCHEMA_MISMATCH', `${mismatch}; rebuild the index with \`nfr index --force\``);
    // A query none of whose words the embedder knows is the zero vector: every control would score
    // 0 (cosine), a ranking of nothing.
    if (model.distance !== 'Euclid' && vector.every((v) => v === 0)) {
      warnings.push('the semantic ranking found nothing: none of the query\'s words carries meaning for the embedder');
      return { hits: [], backend: index.kind, location: index.location, model, points: description.points };
    }
    const hits = await index.search(vector, Math.min(depth, MAX_DEPTH + 1), isEmptyFilter(filter) ? undefined : filter);
    const note = index.memoryNote?.();
    if (note) warnings.push(note);
    if (deps.checkFreshness !== false) {
      try {
        const current = deps.signature ? await deps.signature() : await withClient(await resolveTarget(config), pgSignature, 'nfr search');
        if (current !== description.source_signature) warnings.push('the index is out of date: controls changed since the last `nfr index`; results may miss or show old controls');
      } catch (err) {
        warnings.push(`could not compare the index with PostgreSQL: ${messageOf(err)}`);
      }
    }
    return { hits: hits.map((h) => ({ row: h, score: h.score })), backend: index.kind, location: index.location, model, points: description.points };
  } finally {
    await index.close();
  }
}

/**
 * Scales a ranking's scores (best first, higher better) to 1 for its best and 0 for its
 * FUSION_DEPTH-th or any worse; all 1 when they are equal.
 */
function relativeScale(scores: readonly number[]): (score: number) => number {
  const best = scores[0] ?? 0;
  const floor = scores[Math.min(scores.length, FUSION_DEPTH) - 1] ?? best;
  if (best === floor) return () => 1;
  return (score) => Math.max(0, (score - floor) / (best - floor));
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
