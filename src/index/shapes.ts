/**
 * The index's shapes, each defined once: IndexModel, PointPayload, SearchHit and the check's
 * CheckResult are inferred from these schemas, the API's response schemas generated from them
 * (server/response-schemas.ts). Imported as types only, but by embedded-files.ts, which parses
 * its payload lines with pointPayloadSchema.
 */
import { z } from 'zod';
import { DISTANCES } from '../enrich/embedder.js';

const int = () => z.number().int();

/** What an index was built with (index/types.ts IndexModel). */
export const indexModelSchema = z.object({ model: z.string(), dimension: int(), distance: z.enum(DISTANCES) });
const modelSchema = indexModelSchema;

/** What a point carries beside its vector (index/types.ts PointPayload). */
export const pointPayloadSchema = z.object({
  control_id: z.string(),
  title: z.string(),
  status: z.string().nullable(),
  owning_function_id: z.string().nullable(),
  risk_theme_ids: z.array(z.string()).readonly(),
  // Added with search filters; a generation written before reads them as null (and its payload
  // hashes differ, so the next `nfr index` rewrites those points with them, reusing the vectors).
  /** Filterable attributes (search filters); null in points written before they were added. */
  owning_location_id: z.string().nullable().default(null),
  family_id: z.string().nullable().default(null),
  key_control: z.boolean().nullable().default(null),
  /** Hash of the embedded text (src_controls_ver_control.text_hash). */
  text_hash: z.string(),
  /** Hash of the other payload fields, so a status or ownership change is noticed too. */
  payload_hash: z.string(),
  model: z.string(),
});

/** A hit of a vector search (index/types.ts SearchHit); search/shapes.ts's ControlHit extends it. */
export const searchHitSchema = z.object({
  control_id: z.string(),
  title: z.string(),
  status: z.string().nullable(),
  /** Cosine/Dot: similarity, higher is better. Euclid: distance, lower is better (as Qdrant). */
  score: z.number(),
  family_id: z.string().nullable(),
  key_control: z.boolean().nullable(),
  owning_function_id: z.string().nullable(),
  owning_location_id: z.string().nullable(),
  risk_theme_ids: z.array(z.string()).readonly(),
});

export const checkListSchema = z.object({ count: int(), ids: z.array(z.string()) });
export const staleListSchema = z.object({ count: int(), ids: z.array(z.object({ control_id: z.string(), reason: z.enum(['text', 'payload']) })) });

/** `nfr index --check` and `GET /api/v2/pipelines/index/check` (index/check.ts). */
export const indexCheckSchema = z.object({
  ok: z.boolean(),
  backend: z.enum(['embedded', 'qdrant']),
  location: z.string(),
  index_exists: z.boolean(),
  index_model: modelSchema.nullable(),
  embedder_model: z.object({ model: z.string(), dimension: int().nullable(), distance: z.string() }),
  /** Why the index cannot be used with this embedder, or null. */
  model_mismatch: z.string().nullable(),
  controls: int(),
  points: int(),
  /** The index was synced with exactly the current PostgreSQL data (same signature). */
  up_to_date_signature: z.boolean(),
  missing: checkListSchema,
  stale: staleListSchema,
  orphan: checkListSchema,
  duration_ms: int(),
});
