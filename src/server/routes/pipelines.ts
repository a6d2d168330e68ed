/** Pipeline routes (SPEC §4): control and context ingestion, index sync/check, search, stage. */
import type { FastifyInstance } from 'fastify';
import { getPipelineStage } from '../../pipeline/stage.js';
import type { ServerDeps } from '../app.js';
import { withPoolClient } from '../db.js';
import { ANY_OBJECT, ERROR_RESPONSES } from '../schemas.js';

export function registerPipelineRoutes(app: FastifyInstance, deps: ServerDeps): void {
  app.get('/api/v2/pipelines/status', { config: { role: 'reader' }, schema: { summary: 'Pipeline stage and current row counts', response: { 200: ANY_OBJECT, ...ERROR_RESPONSES } } }, async () => {
    return withPoolClient(deps.pool, async (client) => {
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
    });
  });
}
