/** JSON schemas shared by the routes (and so by the generated OpenAPI document). */
import { jobViewSchema } from '../jobs/store.js';
import { responseSchema } from './json-schema.js';

/** The one error shape every failure has. */
export const ERROR_BODY = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: { code: { type: 'string' }, message: { type: 'string' }, details: { type: 'object', additionalProperties: true } },
    },
  },
} as const;

export const ERROR_RESPONSES = { 400: ERROR_BODY, 401: ERROR_BODY, 403: ERROR_BODY, 404: ERROR_BODY, 409: ERROR_BODY, 503: ERROR_BODY } as const;

/**
 * A job as `GET /api/v2/jobs/{job_id}` answers it, generated from the schema its type is
 * inferred from (jobs/store.ts). Open (additionalProperties) so that a field added to the record
 * is never dropped by serialization.
 */
export const JOB = responseSchema(jobViewSchema);

/** The 202 answer of a request that started a job. */
export const JOB_ACCEPTED = {
  type: 'object',
  additionalProperties: true,
  required: ['job_id'],
  properties: { job_id: { type: 'string', format: 'uuid' }, status: { type: 'string' }, status_url: { type: 'string' }, snapshot_id: { type: 'string' }, upload_id: { type: 'string' } },
} as const;
