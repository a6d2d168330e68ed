/**
 * The pipeline's answers, defined once: the types are inferred from these schemas and the API's
 * response schemas generated from them (server/response-schemas.ts). Imported as types only.
 */
import { z } from 'zod';
import { recoveryReportSchema } from '../runtime/shapes.js';

const int = () => z.number().int();

/** `GET /api/v2/pipelines/status` (pipeline/status.ts). */
export const pipelineStatusSchema = z.object({
  stage: z.enum(['clean', 'context', 'controls', 'indexed']).meta({ description: 'the last pipeline stage completed on this database' }),
  counts: z.record(z.string(), z.number()).meta({ description: 'row counts recorded when stages completed' }),
  updated_at: z.string().meta({ format: 'date-time' }).optional(),
  current: z.object({ controls: int(), functions: int(), risk_themes: int() }),
});

/** `nfr snapshot recover` and `POST /api/v2/devdata/snapshots/recover` (pipeline/recover.ts). */
export const recoverResultSchema = recoveryReportSchema.extend({
  /** Whether anything was repaired. */
  repaired: z.boolean(),
  /** The same, for people. */
  summary: z.string(),
});

