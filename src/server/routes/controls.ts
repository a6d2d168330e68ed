/**
 * Controls: search (`GET /api/v2/controls/search?q=` with query parameters, or the same as a JSON
 * `POST` body) and one control (`GET /api/v2/controls/{id}`: attributes, links, enrichment and
 * history, `?as_of=` for an earlier moment).
 */
import type { FastifyInstance } from 'fastify';
import type pg from 'pg';
import { controlDetail, parseAsOf } from '../../controls/detail.js';
import { createEmbedder } from '../../enrich/create-embedder.js';
import { NfrError } from '../../errors.js';
import { openIndex } from '../../index/open-index.js';
import { ResidentDoesNotFit, residentBudget } from '../../index/resident-budget.js';
import type { SearchFilter } from '../../index/types.js';
import { residentKeywords } from '../../search/keyword-resident.js';
import { MAX_LIMIT, SEARCH_MODES, searchControls, type SearchMode } from '../../search/search.js';
import type { ServerDeps } from '../app.js';
import { withPoolClient } from '../../postgres/pool.js';
import { CONTROL_DETAIL, SEARCH_RESULT } from '../response-schemas.js';
import { ERROR_RESPONSES } from '../schemas.js';

/** The list filters, named alike in query parameters, the POST body and SearchFilter. */
const LIST_FILTERS = ['status', 'owning_function_id', 'owning_location_id', 'risk_theme_id', 'family_id'] as const satisfies readonly (keyof SearchFilter)[];
type ListFilter = (typeof LIST_FILTERS)[number];

/** One property schema per list filter. */
const listFilterSchemas = <S>(schema: S) => Object.fromEntries(LIST_FILTERS.map((f) => [f, schema])) as Record<ListFilter, S>;
const COMMON = { q: { type: 'string', minLength: 1, maxLength: 2000 }, mode: { type: 'string', enum: [...SEARCH_MODES] }, cursor: { type: 'string', maxLength: 500 } } as const;

type SearchQuery = { q: string; mode?: SearchMode; key_control?: 'true' | 'false'; limit?: string; cursor?: string } & Partial<Record<ListFilter, string>>;

interface SearchBody {
  q: string;
  mode?: SearchMode;
  filters?: SearchFilter;
  limit?: number;
  cursor?: string;
}

/** A query parameter's comma-separated values. */
const values = (v: string | undefined) => (v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean));

/** `signature`: PostgreSQL's cached data signature, which search compares with the index's. */
export function registerControlRoutes(app: FastifyInstance, deps: ServerDeps, signature: () => Promise<string>): void {
  const withClient = <T>(fn: (c: pg.ClientBase) => Promise<T>) => withPoolClient(deps.pool, fn);
  // The server keeps the keyword postings (keyword-resident.ts) and the embedded index's live
  // generation (embedded-resident.ts) in memory.
  const keywords = residentKeywords(signature, withClient, residentBudget(deps.config.indexMemoryBytes));
  // One embedder for every request: the GloVe one holds its 40 MB word table.
  const embedder = createEmbedder(deps.config);
  // All three are loaded in the background once the server listens, so the first search does not
  // wait for them (seconds at 100,000 controls). A failure here (no schema yet, no index) is met
  // again, and reported, by the search that needs them.
  app.addHook('onReady', async () => {
    // The keyword postings first: they claim their share of NFR_INDEX_MEMORY_MB before the
    // vector index does (see resident-budget.ts). What does not fit is said once here, and in
    // every search answer it slows.
    const warn = (message: string) => {
      app.log.warn(message);
      // Beside the start-up warnings of `nfr serve`, where an operator looks first.
      process.stderr.write(`nfr serve: warning: ${message}\n`);
    };
    const index = openIndex(deps.config, { resident: true });
    const keywordsReady = keywords().catch((err: unknown) => {
      if (err instanceof ResidentDoesNotFit) warn(err.message);
    });
    const indexReady = keywordsReady.then(() => index.warm?.()).then(() => {
      const note = index.memoryNote?.();
      if (note) warn(note);
    });
    void Promise.allSettled([indexReady, embedder.warm?.()]).finally(() => index.close());
  });
  const search = (q: string, mode: SearchMode | undefined, filter: SearchFilter, limit: number | undefined, cursor: string | undefined) => {
    if (limit !== undefined && (limit < 1 || limit > MAX_LIMIT)) throw new NfrError('INVALID_INPUT', `limit ${limit}: expected 1 to ${MAX_LIMIT}`);
    return searchControls(deps.config, { q, mode, filter, limit, cursor }, { signature, withClient, keywords, embedder, index: openIndex(deps.config, { resident: true }) });
  };

  app.get<{ Querystring: SearchQuery }>(
    '/api/v2/controls/search',
    {
      config: { role: 'reader' },
      schema: {
        summary: 'Search controls: hybrid (keyword and semantic fused, ids first) by default; filters and cursor paging',
        querystring: {
          type: 'object',
          required: ['q'],
          additionalProperties: false,
          properties: {
            ...COMMON,
            ...listFilterSchemas({ type: 'string', maxLength: 2000, description: 'one value, or several separated by commas' }),
            key_control: { type: 'string', enum: ['true', 'false'] },
            limit: { type: 'string', pattern: '^[0-9]{1,3}$', description: `a whole number from 1 to ${MAX_LIMIT}` },
          },
        },
        response: { 200: SEARCH_RESULT, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const p = request.query;
      const filter: SearchFilter = {
        ...Object.fromEntries(LIST_FILTERS.map((f) => [f, values(p[f])])),
        key_control: p.key_control === undefined ? undefined : p.key_control === 'true',
      };
      return search(p.q, p.mode, filter, p.limit === undefined ? undefined : Number(p.limit), p.cursor);
    },
  );

  app.post<{ Body: SearchBody }>(
    '/api/v2/controls/search',
    {
      config: { role: 'reader' },
      schema: {
        summary: 'Search controls with a JSON body: {q, mode, filters: {status, owning_function_id, owning_location_id, risk_theme_id, family_id, key_control}, limit, cursor}',
        body: {
          type: 'object',
          required: ['q'],
          additionalProperties: false,
          properties: {
            ...COMMON,
            filters: {
              type: 'object',
              additionalProperties: false,
              properties: { ...listFilterSchemas({ type: 'array', maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 128 } }), key_control: { type: 'boolean' } },
            },
            limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT },
          },
        },
        response: { 200: SEARCH_RESULT, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const b = request.body;
      return search(b.q, b.mode, b.filters ?? {}, b.limit, b.cursor);
    },
  );

  app.get<{ Params: { id: string }; Querystring: { as_of?: string } }>(
    '/api/v2/controls/:id',
    {
      config: { role: 'reader' },
      schema: {
        summary: 'A control: attributes, owning function and location, risk themes, enrichment, version history; as_of answers for an earlier moment',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 } }, additionalProperties: false },
        querystring: { type: 'object', additionalProperties: false, properties: { as_of: { type: 'string', maxLength: 64 } } },
        response: { 200: CONTROL_DETAIL, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const asOf = parseAsOf(request.query.as_of);
      return withPoolClient(deps.pool, (client) => controlDetail(client, request.params.id, asOf));
    },
  );
}
