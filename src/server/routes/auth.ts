/** `GET /api/v2/auth/me`: what the presented token may do, so a client can show only what works. */
import type { FastifyInstance } from 'fastify';
import { codeSchemaHead } from '../../postgres/migrate.js';
import { NFR_VERSION } from '../../version.js';
import { ERROR_BODY } from '../schemas.js';

export function registerAuthRoutes(app: FastifyInstance): void {
  app.get(
    '/api/v2/auth/me',
    {
      config: { role: 'reader' },
      schema: {
        summary: "The token's role, and the server's version and schema head",
        response: {
          200: {
            type: 'object',
            required: ['role'],
            properties: { role: { type: 'string', enum: ['reader', 'operator', 'admin'] }, version: { type: 'string' }, schema_version: { type: 'string' } },
          },
          401: ERROR_BODY,
        },
      },
    },
    async (request) => ({ role: request.role ?? 'reader', version: NFR_VERSION, schema_version: codeSchemaHead() }),
  );
}
