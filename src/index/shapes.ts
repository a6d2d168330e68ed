/**
 * The index check's answer, defined once: CheckResult is inferred from this schema and the API's
 * response schema generated from it (server/response-schemas.ts). Imported as a type only.
 */
import { z } from 'zod';

const int = () => z.number().int();
const modelSchema = z.object({ model: z.string(), dimension: int(), distance: z.string() });

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
