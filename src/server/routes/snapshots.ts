/** Snapshot routes (SPEC §5.1, API column). Long operations answer at once with a job to poll. */
import type { FastifyInstance } from 'fastify';
import { NfrError } from '../../errors.js';
import { catalogSummaries } from '../../snapshot/catalog.js';
import { findManifest, verifyOffsiteOnly, whereIsIt } from '../../snapshot/offsite/find.js';
import { offsiteRepository } from '../../snapshot/offsite/repository.js';
import { validateCreateOptions } from '../../snapshot/create.js';
import { deepVerify } from '../../snapshot/deep-verify.js';
import { deleteSnapshot } from '../../snapshot/delete.js';
import { snapshotHealth } from '../../snapshot/health.js';
import { parseSnapshotId } from '../../snapshot/ids.js';
import { reserveSnapshotId } from '../../snapshot/state.js';
import { restorePreflight } from '../../snapshot/restore/index.js';
import { restorePlan } from '../../snapshot/restore-plan.js';
import { DIFF_CHANGES, DIFF_ENTITIES, DIFF_LIMIT_MAX, diffSnapshot, planDiff, type DiffChange, type DiffEntity } from '../../snapshot/diff/index.js';
import { pruneSnapshots } from '../../snapshot/retention.js';
import { snapshotStatus } from '../../snapshot/status.js';
import { loadSnapshot } from '../../snapshot/verify.js';
import { verifySnapshot } from '../../snapshot/verifications.js';
import { coolSnapshot } from '../../snapshot/warm.js';
import { readAllWarmCopies } from '../../snapshot/warm-copies.js';
import type { ServerDeps } from '../app.js';
import { SNAPSHOT_DIFF, COOL_RESULT, DELETE_RESULT, MANIFEST_WITH_WARM, PRUNE_RESULT, RECOVER_RESULT, RESTORE_PLAN, SNAPSHOT_HEALTH, SNAPSHOT_LIST, SNAPSHOT_STATUS, VERIFY_RESULT } from '../response-schemas.js';
import { ERROR_BODY, ERROR_RESPONSES, JOB, JOB_ACCEPTED } from '../schemas.js';
import { authorize } from '../auth.js';
import { queueJob } from '../../pipeline/tasks.js';
import { recoverOnDemand } from '../../pipeline/recover.js';
import { jobAccepted, jobView } from './jobs.js';

const ID_PARAM = { type: 'object', required: ['id'], properties: { id: { type: 'string', maxLength: 64 } }, additionalProperties: false } as const;
const errors = ERROR_RESPONSES;

interface CreateBody {
  name: string;
  description?: string;
  tags?: string[];
  full?: boolean;
  warm?: boolean;
}

interface RestoreBody {
  skip_backup?: boolean;
  force?: boolean;
  resync?: boolean;
  /** The original system's name: false means skip_backup. */
  create_pre_restore_backup?: boolean;
}

export function registerSnapshotRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const { ctx, requestCtx, jobs } = deps;
  const base = '/api/v2/devdata/snapshots';

  app.post<{ Body: CreateBody }>(
    `${base}/create`,
    {
      config: { role: 'operator', audit: 'snapshot.create' },
      schema: {
        summary: 'Start a snapshot; poll the job',
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            description: { type: 'string', maxLength: 2000 },
            tags: { type: 'array', maxItems: 20, items: { type: 'string', maxLength: 64 } },
            full: { type: 'boolean' },
            warm: { type: 'boolean' },
          },
        },
        response: { 202: { type: 'object', required: ['job_id', 'snapshot_id'], properties: { job_id: { type: 'string' }, snapshot_id: { type: 'string' }, status_url: { type: 'string' } } }, ...errors },
      },
    },
    async (request, reply) => {
      const { name, description, tags, full, warm } = request.body;
      validateCreateOptions({ name, description, tags });
      const snapshotId = await reserveSnapshotId(ctx);
      const job = await queueJob(jobs, 'snapshot.create', { snapshot_id: snapshotId, name, description: description ?? null, tags: tags ?? [], full: full === true, warm: warm === true });
      return reply.code(202).send({ job_id: job.job_id, snapshot_id: snapshotId, status_url: `${base}/job/${job.job_id}/status` });
    },
  );

  app.get(`${base}`, { config: { role: 'reader' }, schema: { summary: 'List snapshots (with their warm copies)', response: { 200: SNAPSHOT_LIST, ...errors } } }, async () =>
    catalogSummaries(ctx.store, ctx.config),
  );

  app.get(`${base}/status`, { config: { role: 'reader' }, schema: { summary: 'Lock holder, last operation, last restore, leftovers waiting for recovery (reads only)', response: { 200: SNAPSHOT_STATUS, ...errors } } }, async () =>
    snapshotStatus(ctx),
  );

  app.post(
    `${base}/recover`,
    { config: { role: 'admin', audit: 'snapshot.recover' }, schema: { summary: 'Repair now what a dead operation left (servers also do it every NFR_RECOVER_INTERVAL_SECONDS); 409 while an operation runs', response: { 200: RECOVER_RESULT, ...errors } } },
    async () => recoverOnDemand(requestCtx),
  );

  app.get(`${base}/health`, { config: { role: 'reader' }, schema: { summary: 'Snapshot health; 503 when unhealthy', response: { 200: SNAPSHOT_HEALTH, 503: SNAPSHOT_HEALTH, 401: ERROR_BODY } } }, async (_request, reply) => {
    const report = await snapshotHealth(ctx);
    return reply.code(report.status === 'unhealthy' ? 503 : 200).send(report);
  });

  app.post<{ Body: { dry_run?: boolean } | undefined }>(
    `${base}/prune`,
    {
      // A preview changes nothing: only applying the policy is recorded.
      config: { role: 'admin', audit: (request) => ((request.body as { dry_run?: boolean } | undefined)?.dry_run === false ? 'snapshot.prune' : undefined) },
      schema: { summary: 'The retention policy: what it would delete (the default), or, with {"dry_run": false}, delete it', body: { type: 'object', additionalProperties: false, properties: { dry_run: { type: 'boolean' } } }, response: { 200: PRUNE_RESULT, ...errors } },
    },
    // Without a body nothing is deleted: applying the policy takes an explicit {"dry_run": false}.
    async (request) => pruneSnapshots(requestCtx, { dryRun: request.body?.dry_run !== false }),
  );

  app.get<{ Params: { job_id: string } }>(
    `${base}/job/:job_id/status`,
    { config: { role: 'reader' }, schema: { summary: 'Status of a snapshot job', params: { type: 'object', properties: { job_id: { type: 'string', maxLength: 64 } } }, response: { 200: JOB, ...errors } } },
    async (request) => {
      const job = await jobs.get(request.params.job_id);
      if (!job) throw new NfrError('NOT_FOUND', `no job ${request.params.job_id}`);
      return jobView(job);
    },
  );

  app.post<{ Body: RestoreBody | undefined }>(
    `${base}/undo`,
    { config: { role: 'admin', audit: 'snapshot.undo' }, schema: { summary: 'Put back the database the last restore replaced', response: { 202: JOB_ACCEPTED, ...errors } } },
    async (_request, reply) => {
      const job = await queueJob(jobs, 'snapshot.undo', {});
      return reply.code(202).send(jobAccepted(job, `${base}/job/${job.job_id}/status`));
    },
  );

  app.get<{ Params: { id: string } }>(`${base}/:id`, { config: { role: 'reader' }, schema: { summary: 'A snapshot manifest (and its warm copy)', params: ID_PARAM, response: { 200: MANIFEST_WITH_WARM, ...errors } } }, async (request) => {
    const id = parseSnapshotId(request.params.id);
    const { manifest, location } = await findManifest(ctx, id);
    return { ...manifest, location, warm: (await readAllWarmCopies(ctx.store)).get(id) ?? null };
  });

  app.post<{ Params: { id: string } }>(
    `${base}/:id/push`,
    { config: { role: 'operator', audit: 'snapshot.push' }, schema: { summary: 'Upload a snapshot that is not offsite yet to the offsite repository; poll the job', params: ID_PARAM, response: { 202: JOB_ACCEPTED, ...errors } } },
    async (request, reply) => {
      const id = parseSnapshotId(request.params.id);
      await loadSnapshot(ctx.store, id);
      await offsiteRepository(ctx.config).check();
      const job = await queueJob(jobs, 'snapshot.push', { snapshot_id: id });
      return reply.code(202).send(jobAccepted(job, `${base}/job/${job.job_id}/status`));
    },
  );

  app.post<{ Params: { id: string } }>(
    `${base}/:id/warm`,
    { config: { role: 'operator', audit: 'snapshot.warm' }, schema: { summary: 'Keep a ready copy of the snapshot on the server, so restoring it is a file copy; poll the job', params: ID_PARAM, response: { 202: JOB_ACCEPTED, ...errors } } },
    async (request, reply) => {
      const id = parseSnapshotId(request.params.id);
      // Local or offsite: the warm job fetches an offsite-only snapshot back first, as a restore does.
      await findManifest(ctx, id);
      const job = await queueJob(jobs, 'snapshot.warm', { snapshot_id: id });
      return reply.code(202).send(jobAccepted(job, `${base}/job/${job.job_id}/status`));
    },
  );

  app.post<{ Params: { id: string } }>(
    `${base}/:id/cool`,
    { config: { role: 'operator', audit: 'snapshot.cool' }, schema: { summary: "Drop the snapshot's warm copy (the snapshot stays)", params: ID_PARAM, response: { 200: COOL_RESULT, ...errors } } },
    async (request) => coolSnapshot(requestCtx, parseSnapshotId(request.params.id)),
  );

  app.get<{ Params: { id: string } }>(
    `${base}/:id/restore-plan`,
    { config: { role: 'reader' }, schema: { summary: 'What restoring the snapshot would do (schema check, force, resync, undo); changes nothing', params: ID_PARAM, response: { 200: RESTORE_PLAN, ...errors } } },
    async (request) => restorePlan(ctx, parseSnapshotId(request.params.id)),
  );

  app.get<{ Params: { id: string }; Querystring: { to?: string; limit?: string; cursor?: string; entity?: DiffEntity; change?: DiffChange } }>(
    `${base}/:id/diff`,
    {
      config: { role: 'reader' },
      schema: {
        summary: 'What restoring the snapshot over live (or another snapshot) would change: schema, row counts, and the controls and context entities removed, brought back and reverted; 202 with a job when it needs a scratch restore or a warm clone',
        params: ID_PARAM,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            to: { type: 'string', maxLength: 64, default: 'live' },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: `ids per page, 1 to ${DIFF_LIMIT_MAX} (default 100)` },
            cursor: { type: 'string', maxLength: 2000 },
            entity: { type: 'string', enum: DIFF_ENTITIES.map((e) => e.entity) },
            change: { type: 'string', enum: [...DIFF_CHANGES] },
          },
        },
        response: { 200: SNAPSHOT_DIFF, 202: JOB_ACCEPTED, ...errors },
      },
    },
    async (request, reply) => {
      const q = request.query;
      const options = { id: parseSnapshotId(request.params.id), to: q.to === undefined || q.to === 'live' ? ('live' as const) : parseSnapshotId(q.to), limit: q.limit === undefined ? undefined : Number(q.limit), cursor: q.cursor, entity: q.entity, change: q.change };
      const plan = await planDiff(requestCtx, options);
      if (plan.method === 'history') return diffSnapshot(requestCtx, options);
      // A copy of the snapshot takes seconds to minutes: a job, with progress, whose result is the diff.
      const job = await queueJob(jobs, 'snapshot.diff', { snapshot_id: options.id, to: options.to, limit: options.limit, cursor: q.cursor, entity: q.entity, change: q.change });
      return reply.code(202).send({ ...jobAccepted(job, `${base}/job/${job.job_id}/status`), method: plan.method, method_reason: plan.reason });
    },
  );

  app.post<{ Params: { id: string }; Body: RestoreBody | undefined }>(
    `${base}/:id/restore`,
    {
      config: { role: 'admin', audit: 'snapshot.restore' },
      schema: {
        summary: 'Restore a snapshot over the live database; poll the job',
        params: ID_PARAM,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { skip_backup: { type: 'boolean' }, force: { type: 'boolean' }, resync: { type: 'boolean' }, create_pre_restore_backup: { type: 'boolean' } },
        },
        response: { 202: JOB_ACCEPTED, ...errors },
      },
    },
    async (request, reply) => {
      const id = parseSnapshotId(request.params.id);
      const body = request.body ?? {};
      const skipBackup = body.skip_backup ?? (body.create_pre_restore_backup === undefined ? false : !body.create_pre_restore_backup);
      const force = body.force === true;
      await restorePreflight(ctx, id, force);
      const resync = body.resync === true;
      const job = await queueJob(jobs, 'snapshot.restore', { snapshot_id: id, skip_backup: skipBackup, force, resync });
      return reply.code(202).send(jobAccepted(job, `${base}/job/${job.job_id}/status`));
    },
  );

  app.delete<{ Params: { id: string } }>(`${base}/:id`, { config: { role: 'admin', audit: 'snapshot.delete' }, schema: { summary: 'Delete a snapshot', params: ID_PARAM, response: { 200: DELETE_RESULT, ...errors } } }, async (request) => {
    const id = parseSnapshotId(request.params.id);
    return deleteSnapshot(requestCtx, id);
  });

  app.post<{ Params: { id: string }; Body: { deep?: boolean; offsite?: boolean } | undefined }>(
    `${base}/:id/verify`,
    {
      // Checking checksums only reads files; a deep verify restores into a scratch database.
      config: { role: 'reader', audit: 'snapshot.verify' },
      schema: { summary: 'Verify checksums (reader); deep: test-restore (operator)', params: ID_PARAM, body: { type: 'object', additionalProperties: false, properties: { deep: { type: 'boolean' }, offsite: { type: 'boolean', description: 'check the offsite copy (read back from the bucket) instead of the local one' } } }, response: { 200: VERIFY_RESULT, ...errors } },
    },
    async (request) => {
      const id = parseSnapshotId(request.params.id);
      if (request.body?.deep && request.body.offsite) throw new NfrError('USAGE', 'deep and offsite check different copies: give one');
      if (request.body?.offsite) return offsiteRepository(ctx.config).verify(id);
      if (request.body?.deep) authorize(request.role ?? 'reader', 'operator');
      try {
        return await (request.body?.deep ? deepVerify(requestCtx, id) : verifySnapshot(ctx.store, id, ctx.config.parallelJobs));
      } catch (err) {
        throw await whereIsIt(ctx, id, err, verifyOffsiteOnly(id));
      }
    },
  );
}
