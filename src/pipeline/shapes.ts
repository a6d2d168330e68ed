/**
 * The pipeline's answers, defined once: the types are inferred from these schemas and the API's
 * response schemas generated from them (server/response-schemas.ts). Imported as types only.
 */
import { z } from 'zod';
import { recoveryReportSchema, stageRecordSchema } from '../runtime/shapes.js';

const int = () => z.number().int();

/** `GET /api/v2/pipelines/status` (pipeline/status.ts). */
export const pipelineStatusSchema = stageRecordSchema.extend({
  current: z.object({ controls: int(), functions: int(), risk_themes: int() }),
});

/** `nfr snapshot recover` and `POST /api/v2/devdata/snapshots/recover` (pipeline/recover.ts). */
export const recoverResultSchema = recoveryReportSchema.extend({
  /** Whether anything was repaired. */
  repaired: z.boolean(),
  /** The same, for people. */
  summary: z.string(),
});

