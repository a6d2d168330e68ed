/** `GET /api/v2/controls/{id}`: a control's attributes, links, enrichment and history (`?as_of=`). */
import type { FastifyInstance } from 'fastify';
import { controlDetail, parseAsOf } from '../../controls/detail.js';
import type { ServerDeps } from '../app.js';
import { withPoolClient } from '../db.js';
import { ANY_OBJECT, ERROR_RESPONSES } from '../schemas.js';

export function registerControlRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get<{ Params: { id: string }; Querystring: { as_of?: string } }>(
    '/api/v2/controls/:id',
    {
      config: { role: 'reader' },
      schema: {
        summary: 'A control: attributes, owning function and location, risk themes, enrichment, version history; as_of answers for an earlier moment',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 128 } }, additionalProperties: false },
        querystring: { type: 'object', additionalProperties: false, properties: { as_of: { type: 'string', maxLength: 64 } } },
        response: { 200: ANY_OBJECT, ...ERROR_RESPONSES },
      },
    },
    async (request) => {
      const asOf = parseAsOf(request.query.as_of);
      return withPoolClient(deps.pool, (client) => controlDetail(client, request.params.id, asOf));
    },
  );
}
