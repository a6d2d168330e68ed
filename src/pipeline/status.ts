/** Where the pipeline is: the stage the live database records, and how many current rows it has. */
import type pg from 'pg';
import { getPipelineStage } from '../runtime/stage.js';
import type { z } from 'zod';
import type { pipelineStatusSchema } from './shapes.js';

/** Its shape is defined once, in pipeline/shapes.ts (the API's response schema is generated from it). */
export async function pipelineStatus(client: pg.ClientBase): Promise<z.infer<typeof pipelineStatusSchema>> {
  const stage = await getPipelineStage(client);
  const counts = await client.query<{ controls: string; functions: string; themes: string }>(
    `select (select count(*) from src_controls_ver_control where tx_to is null)::text as controls,
            (select count(*) from src_orgs_ver_function where tx_to is null)::text as functions,
            (select count(*) from src_risks_ver_theme where tx_to is null)::text as themes`,
  );
  const row = counts.rows[0];
  return { ...stage, current: { controls: Number(row?.controls ?? 0), functions: Number(row?.functions ?? 0), risk_themes: Number(row?.themes ?? 0) } };
}
