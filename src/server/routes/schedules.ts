/**
 * `/api/v2/devdata/snapshots/schedules`: readers see the schedules, admins add, remove, pause and
 * resume them (the same core as `nfr schedule`).
 */
import type { FastifyInstance } from 'fastify';
import { ScheduleStore } from '../../schedules/store.js';
import type { ServerDeps } from '../app.js';
import { ERROR_BODY } from '../schemas.js';

const BASE = '/api/v2/devdata/snapshots/schedules';

const RUN = {
  type: ['object', 'null'],
  additionalProperties: true,
  properties: {
    tick_at: { type: 'string', format: 'date-time' },
    outcome: { type: 'string', enum: ['queued', 'skipped', 'missed'] },
    reason: { type: ['string', 'null'] },
    missed_ticks: { type: 'integer' },
    job_id: { type: ['string', 'null'] },
    job_status: { type: ['string', 'null'] },
    snapshot_id: { type: ['string', 'null'] },
    error: { type: ['object', 'null'], additionalProperties: true },
  },
} as const;

const SCHEDULE = {
  type: 'object',
  additionalProperties: true,
  required: ['name', 'cron', 'tz', 'paused'],
  properties: {
    name: { type: 'string' },
    cron: { type: 'string' },
    tz: { type: 'string', description: 'IANA time zone the cron expression is read in' },
    full: { type: 'boolean' },
    warm: { type: 'boolean' },
    tags: { type: 'array', items: { type: 'string' } },
    prune: { type: 'boolean', description: 'retention is applied after each run' },
    paused: { type: 'boolean' },
    created_at: { type: 'string', format: 'date-time' },
    created_by: { type: 'string' },
    next_run_at: { type: ['string', 'null'], format: 'date-time' },
    last_run: RUN,
    last_success_at: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;

const NAME_PARAMS = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 63 } } } as const;

interface AddBody {
  name: string;
  cron: string;
  tz?: string;
  full?: boolean;
  warm?: boolean;
  tags?: string[];
  prune?: boolean;
}

export function registerScheduleRoutes(app: FastifyInstance, deps: ServerDeps): void {
  const schedules = new ScheduleStore(deps.jobs.pool);
  const by = (role: string | undefined) => `${role ?? 'unknown'} token (API)`;

  app.get(BASE, { config: { role: 'reader' }, schema: { summary: 'Snapshot schedules: cron, zone, next run, last run with its snapshot or error', response: { 200: { type: 'object', required: ['schedules'], properties: { schedules: { type: 'array', items: SCHEDULE } } }, 401: ERROR_BODY } } }, async () => ({
    schedules: await schedules.list(),
  }));

  app.post<{ Body: AddBody }>(
    BASE,
    {
      config: { role: 'admin', audit: 'schedule.add' },
      schema: {
        summary: 'Add a snapshot schedule',
        description: 'Each tick creates a snapshot named `<name> <local date and time>`, tagged `scheduled` and with the name, then applies retention with `prune`. A bad cron expression or time zone is refused with what was wrong.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name', 'cron'],
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 63 },
            cron: { type: 'string', minLength: 1, maxLength: 200, description: 'five fields: minute hour day-of-month month day-of-week' },
            tz: { type: 'string', maxLength: 100, description: 'IANA time zone (default UTC)' },
            full: { type: 'boolean' },
            warm: { type: 'boolean' },
            tags: { type: 'array', maxItems: 20, items: { type: 'string', maxLength: 64 } },
            prune: { type: 'boolean' },
          },
        },
        response: { 201: SCHEDULE, 400: ERROR_BODY, 401: ERROR_BODY, 403: ERROR_BODY },
      },
    },
    async (request, reply) => reply.code(201).send(await schedules.add(request.body, by(request.role))),
  );

  app.delete<{ Params: { name: string } }>(
    `${BASE}/:name`,
    { config: { role: 'admin', audit: 'schedule.remove' }, schema: { summary: 'Remove a schedule (its history stays)', params: NAME_PARAMS, response: { 200: { type: 'object', properties: { name: { type: 'string' }, removed: { type: 'boolean' } } }, 401: ERROR_BODY, 403: ERROR_BODY, 404: ERROR_BODY } } },
    async (request) => schedules.remove(request.params.name),
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: { name: string } }>(
      `${BASE}/:name/${action}`,
      {
        config: { role: 'admin', audit: `schedule.${action}` },
        schema: { summary: action === 'pause' ? 'Pause a schedule (its ticks are neither run nor counted as missed)' : 'Resume a paused schedule from now', params: NAME_PARAMS, response: { 200: SCHEDULE, 401: ERROR_BODY, 403: ERROR_BODY, 404: ERROR_BODY } },
      },
      async (request) => schedules.setPaused(request.params.name, action === 'pause'),
    );
  }
}
