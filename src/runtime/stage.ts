/**
 * The pipeline stage the database is at (clean → context → controls → indexed), with the row
 * counts that go with it. Snapshots record it so a restore can say what is out of date.
 */
import type pg from 'pg';
import { z } from 'zod';
import type { stageRecordSchema } from './shapes.js';

export const PIPELINE_STAGES = ['clean', 'context', 'controls', 'indexed'] as const;
export type PipelineStage = (typeof PIPELINE_STAGES)[number];

/** Defined once, in runtime/shapes.ts (the pipeline status's response schema extends it). */
export type StageRecord = Readonly<z.infer<typeof stageRecordSchema>>;

const stageRow = z.object({
  stage: z.enum(PIPELINE_STAGES),
  counts: z.record(z.string(), z.number()),
  updated_at: z.coerce.date(),
});

/** The current stage (the migration seeds one row, so a migrated database always has one). */
export async function getPipelineStage(client: pg.ClientBase): Promise<StageRecord> {
  const r = await client.query('select stage, counts, updated_at from nfr_pipeline_stage');
  const row = stageRow.parse(r.rows[0]);
  return { stage: row.stage, counts: row.counts, updated_at: row.updated_at.toISOString() };
}

/**
 * Records that a stage completed, merging its counts into the recorded ones. Call inside the
 * transaction that wrote the stage's data, so the stage and the data commit together.
 *
 * Context ingestion never moves the stage backwards (controls and the index do not depend on
 * it); control ingestion always sets `controls`, because the index is stale after it; indexing
 * sets `indexed`.
 */
export async function completeStage(client: pg.ClientBase, completed: Exclude<PipelineStage, 'clean'>, counts: Record<string, number>): Promise<void> {
  await client.query(
    `update nfr_pipeline_stage
        set stage = case when $1::text = 'context' and stage <> 'clean' then stage else $1::text end,
            counts = counts || $2::jsonb,
            updated_at = now()`,
    [completed, JSON.stringify(counts)],
  );
}
