/**
 * A search's answer, defined once: SearchResult and ControlHit are inferred from these schemas and
 * the API's response schema generated from them (server/response-schemas.ts). Imported as types only.
 */
import { z } from 'zod';
import { searchHitSchema } from '../index/shapes.js';
import type { SearchFilter } from '../index/types.js';
import { SEARCH_MODES } from './search.js';
const nullableInt = () => z.number().int().nullable();

export const controlHitSchema = searchHitSchema.extend({
  score: z.number().meta({ description: 'hybrid: fused score (an id match adds 1); keyword: BM25; semantic: similarity (Euclid: distance); id: 1' }),
  match: z
    .object({ id: z.boolean(), keyword_rank: nullableInt(), semantic_rank: nullableInt() })
    .meta({ description: 'why it is here: an id match, and its 1-based rank in each ranking that found it' }),
});

/** `GET|POST /api/v2/controls/search` (search/search.ts). */
export const searchResultSchema = z.object({
  query: z.string(),
  mode: z.enum(SEARCH_MODES),
  filter: z.custom<SearchFilter>().meta({ type: 'object', description: 'the filters applied' }),
  limit: z.number().int(),
  offset: z.number().int(),
  results: z.array(controlHitSchema),
  next_cursor: z.string().nullable().meta({ description: 'pass as cursor for the next page; null on the last one' }),
  backend: z.enum(['embedded', 'qdrant']).nullable().meta({ description: 'embedded or qdrant; null when no vector index was used' }),
  location: z.string().nullable(),
  model: z.object({ model: z.string(), dimension: z.number().int(), distance: z.string() }).nullable(),
  index_points: nullableInt(),
  warnings: z.array(z.string()),
});
