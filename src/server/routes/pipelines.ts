/** Pipeline routes (SPEC §4): control and context ingestion, index sync/check, stage. */
import type { FastifyInstance } from 'fastify';
import { NfrError } from '../../errors.js';
import { checkIndex } from '../../index/check.js';
import { listUploads } from '../../ingest/uploads.js';
import { pipelineStatus } from '../../pipeline/status.js';
import type { ServerDeps } from '../app.js';
import { INDEX_CHECK, PIPELINE_STATUS, UPLOAD_LIST } from '../response-schemas.js';
import { withPoolClient } from '../../postgres/pool.js';
import { ERROR_RESPONSES, JOB_ACCEPTED } from '../schemas.js';
import { queueJob } from '../../pipeline/tasks.js';
import { jobAccepted } from './jobs.js';
import { registerControlsUpload } from './uploads.js';

export function registerPipelineRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { jobs, config } = deps;
  const jobUrl = (jobId: string) => `/api/v2/pipelines/jobs/${jobId}`;

  app.get('/api/v2/pipelines/status', { config: { role: 'reader' }, schema: { summary: 'Pipeline stage and current row counts', response: { 200: PIPELINE_STATUS, ...ERROR_RESPONSES } } }, async () =>
    withPoolClient(deps.pool, pipelineStatus),
  );

  registerControlsUpload(app, deps);

  app.get<{ Querystring: { limit?: string; offset?: string } }>(
    '/api/v2/pipelines/uploads',
    {
      config: { role: 'reader' },
      schema: {
        summary: 'Upload batches (controls and context), newest first, a page at a time',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'string', pattern: '^[0-9]{1,3}$', description: 'a whole number from 1 to 200 (default 20)' },
            offset: { type: 'string', pattern: '^[0-9]{1,9}$', description: 'a whole number of uploads to skip, 0 or more' },
          },
        },
        response: { 200: UPLOAD_LIST, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const limit = request.query.limit === undefined ? 20 : Number(request.query.limit);
      if (limit < 1 || limit > 200) throw new NfrError('INVALID_INPUT', `limit ${limit}: expected 1 to 200`);
      const offset = request.query.offset === undefined ? 0 : Number(request.query.offset);
      // The record of uploads is in the control database, beside the jobs (ingest/upload-records.ts).
      return withPoolClient(deps.jobs.pool, (client) => listUploads(client, { limit, offset }));
    },
  );

  app.post<{ Body: { dry_run?: boolean; skip_invalid?: boolean; allow_empty?: boolean } | undefined }>(
    '/api/v2/pipelines/context/ingest',
    {
      config: { role: 'operator', audit: 'ingest.context' },
      schema: {
        summary: 'Ingest the latest folder of each context provider under CONTEXT_PROVIDERS_PATH; poll the job',
        body: { type: 'object', additionalProperties: false, properties: { dry_run: { type: 'boolean' }, skip_invalid: { type: 'boolean' }, allow_empty: { type: 'boolean' } } },
        response: { 202: JOB_ACCEPTED, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const job = await queueJob(jobs, 'ingest.context', { ...body });
      return reply.code(202).send(jobAccepted(job, jobUrl(job.job_id)));
    },
  );

  app.post<{ Body: { force?: boolean } | undefined }>(
    '/api/v2/pipelines/index/sync',
    {
      config: { role: 'operator', audit: 'index.sync' },
      schema: {
        summary: 'Bring the vector index in line with the current controls (incremental; force rebuilds); poll the job',
        body: { type: 'object', additionalProperties: false, properties: { force: { type: 'boolean' } } },
        response: { 202: JOB_ACCEPTED, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const force = request.body?.force === true;
      const job = await queueJob(jobs, 'index.sync', { force });
      return reply.code(202).send(jobAccepted(job, jobUrl(job.job_id)));
    },
  );

  app.get('/api/v2/pipelines/index/check', { config: { role: 'reader' }, schema: { summary: 'Compare PostgreSQL and the index by ids and hashes', response: { 200: INDEX_CHECK, ...ERROR_RESPONSES } } }, async () =>
    checkIndex(config),
  );
}
