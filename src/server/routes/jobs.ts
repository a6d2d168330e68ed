/** Job routes: a client that reloads finds its job again with `GET /api/v2/jobs?status=running`. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NfrError } from '../../errors.js';
import type { z } from 'zod';
import { JOB_STATUSES, type Job, type JobKind, type JobStatus, type jobViewSchema } from '../../jobs/store.js';
import type { TaskParams } from '../../pipeline/tasks.js';
import type { ServerDeps } from '../app.js';
import { ERROR_BODY, JOB } from '../schemas.js';

/**
 * A job as the API shows it: the record (status, progress_percent, current_step, counts, errors,
 * result, error) plus `progress`, the original system's name for the percentage; `params` typed
 * by `kind` from the task parameter schemas (pipeline/tasks.ts). The console imports this type.
 */
export type JobView = {
  [K in JobKind]: Readonly<Omit<z.infer<typeof jobViewSchema>, 'kind' | 'params'>> & { readonly kind: K; readonly params: TaskParams<K> };
}[JobKind];

export function jobView(job: Job): JobView {
  // Params were parsed with the kind's schema when the job was queued (queueJob).
  return { ...job, progress: job.progress_percent, step: job.current_step } as JobView;
}

/** Who made a request, as records name them (`cancelled_by`): the token's role. */
export function requestActor(request: FastifyRequest): string {
  return `${request.role ?? 'unknown'} token (API)`;
}

/** The 202 body of a request that started a job. */
export function jobAccepted(job: Job, statusUrl: string) {
  return { job_id: job.job_id, status: job.status, status_url: statusUrl };
}

export function registerJobRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get<{ Querystring: { status?: JobStatus; limit?: string } }>(
    '/api/v2/jobs',
    {
      config: { role: 'reader' },
      schema: {
        summary: 'Jobs, newest first',
        querystring: { type: 'object', additionalProperties: false, properties: { status: { type: 'string', enum: [...JOB_STATUSES] }, limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: 'a whole number of jobs from 1 to 9999 (default 100)' } } },
        response: { 200: { type: 'object', required: ['jobs'], properties: { jobs: { type: 'array', items: JOB } } }, 400: ERROR_BODY, 401: ERROR_BODY },
      },
    },
    async (request) => ({
      jobs: (await deps.jobs.list({ status: request.query.status, limit: request.query.limit ? Number(request.query.limit) : 100 })).map(jobView),
    }),
  );

  const getJob = async (jobId: string) => {
    const job = await deps.jobs.get(jobId);
    if (!job) throw new NfrError('NOT_FOUND', `no job ${jobId}`);
    return jobView(job);
  };
  const params = { type: 'object', required: ['job_id'], properties: { job_id: { type: 'string', maxLength: 64 } } } as const;
  app.get<{ Params: { job_id: string } }>('/api/v2/jobs/:job_id', { config: { role: 'reader' }, schema: { summary: 'One job', params, response: { 200: JOB, 404: ERROR_BODY, 401: ERROR_BODY } } }, async (r) =>
    getJob(r.params.job_id),
  );
  // Cancel: operators and admins; the same under each route a job is polled at.
  for (const url of ['/api/v2/jobs/:job_id/cancel', '/api/v2/pipelines/jobs/:job_id/cancel', '/api/v2/devdata/snapshots/job/:job_id/cancel']) {
    app.post<{ Params: { job_id: string } }>(
      url,
      {
        config: { role: 'operator', audit: 'job.cancel' },
        schema: {
          summary: 'Cancel a queued or running job',
          description:
            'A queued job ends `cancelled` at once; a running one is asked to stop and ends `cancelled` at its next safe point (a create lists nothing, a restore before its swap leaves the live database untouched, an ingestion writes nothing of its batch). A restore past its swap completes and says so in `result.cancel_too_late`. Answers the job as it is now: poll it for the end.',
          params,
          response: { 200: JOB, 400: ERROR_BODY, 401: ERROR_BODY, 403: ERROR_BODY, 404: ERROR_BODY },
        },
      },
      async (request) => jobView(await deps.jobs.cancel(request.params.job_id, requestActor(request))),
    );
  }
  app.get<{ Params: { job_id: string } }>('/api/v2/pipelines/jobs/:job_id', { config: { role: 'reader' }, schema: { summary: 'A pipeline job', params, response: { 200: JOB, 404: ERROR_BODY, 401: ERROR_BODY } } }, async (r) =>
    getJob(r.params.job_id),
  );
}
