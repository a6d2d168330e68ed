/** `GET /api/v2/audit`: the audit trail, newest first (admin only: it names who did what). */
import type { FastifyInstance } from 'fastify';
import { listAudit, MAX_AUDIT_LIMIT, parseSince } from '../../jobs/audit.js';
import type { ServerDeps } from '../app.js';
import { AUDIT_LIST } from '../response-schemas.js';
import { NfrError } from '../../errors.js';
import { ERROR_BODY } from '../schemas.js';

export function registerAuditRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get<{ Querystring: { since?: string; limit?: string; cursor?: string } }>(
    '/api/v2/audit',
    {
      config: { role: 'admin' },
      schema: {
        summary: 'The audit trail: who did what, when, from where, and how it ended; newest first',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            since: { type: 'string', maxLength: 64, description: 'ISO 8601 time, or a duration back from now (30m, 24h, 7d)' },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$', description: `entries per page, 1 to ${MAX_AUDIT_LIMIT} (default 50)` },
            cursor: { type: 'string', pattern: '^[0-9]{1,18}$', description: 'next_cursor of the previous page' },
          },
        },
        response: { 200: AUDIT_LIST, 400: ERROR_BODY, 401: ERROR_BODY, 403: ERROR_BODY, 503: ERROR_BODY },
      },
    },
    async (request) => {
      const { since, limit, cursor } = request.query;
      const n = limit === undefined ? undefined : Number(limit);
      if (n !== undefined && (n < 1 || n > MAX_AUDIT_LIMIT)) throw new NfrError('INVALID_INPUT', `limit ${limit}: expected 1 to ${MAX_AUDIT_LIMIT}`);
      return listAudit(deps.jobs.pool, { since: since === undefined ? undefined : parseSince(since, 'since'), limit: n, cursor });
    },
  );
}
