/** Pipeline routes (SPEC §4): control and context ingestion, index sync/check, stage. */
import type { FastifyInstance } from 'fastify';
import { NfrError } from '../../errors.js';
import { checkIndex } from '../../index/check.js';
import { syncIndex } from '../../index/sync.js';
import { ingestContext } from '../../ingest/context.js';
import { listUploads } from '../../ingest/uploads.js';
import { contextOutcome, indexSyncOutcome } from '../../jobs/outcome.js';
import { getPipelineStage } from '../../pipeline/stage.js';
import { createSnapshot } from '../../snapshot/create.js';
import type { ServerDeps } from '../app.js';
import { INDEX_CHECK, PIPELINE_STATUS, UPLOAD_LIST } from '../response-schemas.js';
import { withPoolClient } from '../db.js';
import { ERROR_RESPONSES, JOB_ACCEPTED } from '../schemas.js';
import { jobAccepted, jobContext } from './jobs.js';
import { registerControlsUpload } from './uploads.js';

export function registerPipelineRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { ctx, jobs, runner, config } = deps;
  const jobUrl = (jobId: string) => `/api/v2/pipelines/jobs/${jobId}`;

  app.get('/api/v2/pipelines/status', { config: { role: 'reader' }, schema: { summary: 'Pipeline stage and current row counts', response: { 200: PIPELINE_STATUS, ...ERROR_RESPONSES } } }, async () =>
    withPoolClient(deps.pool, async (client) => {
      const stage = await getPipelineStage(client);
      const counts = await client.query<{ controls: string; functions: string; themes: string }>(
        `select (select count(*) from src_controls_ver_control where tx_to is null)::text as controls,
                (select count(*) from src_orgs_ver_function where tx_to is null)::text as functions,
                (select count(*) from src_risks_ver_theme where tx_to is null)::text as themes`,
      );
      const row = counts.rows[0];
      return {
        ...stage,
        current: { controls: Number(row?.controls ?? 0), functions: Number(row?.functions ?? 0), risk_themes: Number(row?.themes ?? 0) },
      };
    }),
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
          properties: { limit: { type: 'string', pattern: '^[0-9]{1,3}$' }, offset: { type: 'string', pattern: '^[0-9]{1,9}$' } },
        },
        response: { 200: UPLOAD_LIST, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const limit = request.query.limit === undefined ? 20 : Number(request.query.limit);
      if (limit < 1 || limit > 200) throw new NfrError('INVALID_INPUT', `limit ${limit}: expected 1 to 200`);
      const offset = request.query.offset === undefined ? 0 : Number(request.query.offset);
      return withPoolClient(deps.pool, (client) => listUploads(client, { limit, offset }));
    },
  );

  app.post<{ Body: { dry_run?: boolean; skip_invalid?: boolean; allow_empty?: boolean } | undefined }>(
    '/api/v2/pipelines/context/ingest',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Ingest the latest folder of each context provider under CONTEXT_PROVIDERS_PATH; poll the job',
        body: { type: 'object', additionalProperties: false, properties: { dry_run: { type: 'boolean' }, skip_invalid: { type: 'boolean' }, allow_empty: { type: 'boolean' } } },
        response: { 202: JOB_ACCEPTED, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const body = request.body ?? {};
      const job = await jobs.create('ingest.context', { ...body });
      runner.submit(job, async (report) => {
        report({ step: 'ingesting', percent: 5 });
        // The path is the server's configuration, never taken from the request.
        const result = await ingestContext(jobContext(ctx, report), { dryRun: body.dry_run, skipInvalid: body.skip_invalid, allowEmpty: body.allow_empty });
        report(contextOutcome(result));
        if (!result.ok) {
          throw new NfrError('INVALID_INPUT', `context ingestion rejected ${result.totals.files_rejected} file(s): ${result.providers.flatMap((p) => p.files).flatMap((f) => f.errors).slice(0, 5).map((e) => `${e.file}${e.line ? `:${e.line}` : ''} ${e.field ?? ''} ${e.message}`).join('; ')}`);
        }
        // As after a controls upload (SPEC §6); a dry run changed nothing worth a snapshot.
        let autoSnapshot: string | null = null;
        if (config.autoSnapshotAfterIngestion && !body.dry_run) {
          report({ step: 'auto-snapshot', percent: 85 });
          const uploadId = result.upload_id ?? 'context ingestion';
          const m = await createSnapshot(ctx, { name: `after ${uploadId}`, description: `Automatic snapshot after ingesting the context providers as ${uploadId}`, tags: ['auto'] });
          autoSnapshot = m.id;
        }
        return { ...result, auto_snapshot_id: autoSnapshot };
      });
      return reply.code(202).send(jobAccepted(job, jobUrl(job.job_id)));
    },
  );

  app.post<{ Body: { force?: boolean } | undefined }>(
    '/api/v2/pipelines/index/sync',
    {
      config: { role: 'operator' },
      schema: {
        summary: 'Bring the vector index in line with the current controls (incremental; force rebuilds); poll the job',
        body: { type: 'object', additionalProperties: false, properties: { force: { type: 'boolean' } } },
        response: { 202: JOB_ACCEPTED, ...ERROR_RESPONSES },
      },
    },
    async (request, reply) => {
      const force = request.body?.force === true;
      const job = await jobs.create('index.sync', { force });
      runner.submit(job, async (report) => {
        report({ step: 'syncing', percent: 5 });
        const result = await syncIndex(ctx.config, { force });
        report(indexSyncOutcome(result));
        return result;
      });
      return reply.code(202).send(jobAccepted(job, jobUrl(job.job_id)));
    },
  );

  app.get('/api/v2/pipelines/index/check', { config: { role: 'reader' }, schema: { summary: 'Compare PostgreSQL and the index by ids and hashes', response: { 200: INDEX_CHECK, ...ERROR_RESPONSES } } }, async () =>
    checkIndex(config),
  );
}
