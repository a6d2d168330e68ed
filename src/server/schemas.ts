/** JSON schemas shared by the routes (and so by the generated OpenAPI document). */

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
 * A job as `GET /api/v2/jobs/{job_id}` answers it (see jobs/store.ts). Typed for clients; open
 * (additionalProperties) so that a field added to the record is never dropped by serialization.
 */
export const JOB = {
  type: 'object',
  additionalProperties: true,
  required: ['job_id', 'kind', 'status', 'progress_percent', 'created_at', 'updated_at'],
  properties: {
    job_id: { type: 'string', format: 'uuid' },
    kind: { type: 'string', enum: ['snapshot.create', 'snapshot.restore', 'snapshot.undo', 'snapshot.warm', 'snapshot.diff', 'snapshot.push', 'ingest.controls', 'ingest.context', 'index.sync', 'snapshot.scheduled'] },
    status: { type: 'string', enum: ['pending', 'running', 'completed', 'failed', 'cancelled'] },
    progress_percent: { type: 'number', minimum: 0, maximum: 100 },
    progress: { type: 'number', description: "the original system's name for progress_percent" },
    current_step: { type: ['string', 'null'] },
    step: { type: ['string', 'null'], description: 'the phase the job is in (dumping, restoring, waiting for the lock held by …)' },
    created_at: { type: 'string', format: 'date-time' },
    started_at: { type: ['string', 'null'], format: 'date-time' },
    finished_at: { type: ['string', 'null'], format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
    params: { type: 'object', additionalProperties: true },
    result: { description: 'what the work returned (a manifest summary, a restore report, ingestion counts), null until completed' },
    error: { type: ['object', 'null'], additionalProperties: true, properties: { code: { type: 'string' }, message: { type: 'string' } } },
    counts: { type: ['object', 'null'], additionalProperties: { type: 'number' }, description: 'rows_read, rows_valid, rows_rejected, inserted, updated, unchanged, closed; tables_done, tables_total, bytes' },
    errors: {
      type: 'array',
      items: { type: 'object', additionalProperties: true, properties: { line: { type: ['integer', 'null'] }, field: { type: ['string', 'null'] }, message: { type: 'string' }, file: { type: 'string' } } },
    },
    server: { type: ['string', 'null'], description: 'the server that runs (or ran) the job, host:pid; null while it is queued' },
    server_id: { type: ['string', 'null'], format: 'uuid' },
    heartbeat_at: { type: ['string', 'null'], format: 'date-time', description: "the running job's last heartbeat; a job three heartbeats stale is failed by a live server" },
    cancel_requested_at: { type: ['string', 'null'], format: 'date-time', description: 'when someone asked to cancel the job' },
    cancelled_by: { type: ['string', 'null'], description: 'who asked to cancel the job (a token role, or `cli` and the OS user)' },
  },
} as const;

/** The 202 answer of a request that started a job. */
export const JOB_ACCEPTED = {
  type: 'object',
  additionalProperties: true,
  required: ['job_id'],
  properties: { job_id: { type: 'string', format: 'uuid' }, status: { type: 'string' }, status_url: { type: 'string' }, snapshot_id: { type: 'string' }, upload_id: { type: 'string' } },
} as const;
