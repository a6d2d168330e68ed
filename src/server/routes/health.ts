/** `GET /health` (liveness, database, index; no token) and `GET /metrics` (Prometheus text). */
import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../app.js';
import { withPoolClient } from '../../postgres/pool.js';
import { indexHealthProbe } from '../index-health.js';

/** `signature`: PostgreSQL's cached data signature, to tell whether the index is in sync. */
export function registerHealthRoutes(app: FastifyInstance, deps: ServerDeps, signature: () => Promise<string>): void {
  const indexHealth = indexHealthProbe(deps.config, signature);
  app.get(
    '/health',
    { schema: { summary: 'Liveness, database and vector index (no token needed); 503 when the database does not answer', security: [] } },
    async (_request, reply) => {
      const checkDatabase = async (): Promise<{ status: 'ok' | 'error'; message?: string }> => {
        try {
          await withPoolClient(deps.pool, (c) => c.query('select 1'));
          return { status: 'ok' };
        } catch (err) {
          return { status: 'error', message: (err as Error).message };
        }
      };
      // The job running now on any server (the queue runs one at a time); this server's if the
      // control database does not answer.
      const activeJob = async () => (await deps.jobs.list({ status: 'running', limit: 1 }).catch(() => []))[0]?.job_id ?? deps.runner.active?.job_id ?? null;
      const [database, index, active] = await Promise.all([checkDatabase(), indexHealth(), activeJob()]);
      // The index does not decide the status: without it only search is out of service.
      const ok = database.status === 'ok';
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', database, index, active_job: active, server: deps.runner.server.label });
    },
  );

  app.get('/metrics', { config: { role: 'reader' }, schema: { summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    const text = await deps.metrics.render();
    return reply.type(deps.metrics.contentType).send(text);
  });
}
