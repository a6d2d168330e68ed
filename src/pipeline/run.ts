/**
 * The whole pipeline as one command, with checkpoints: pre-pipeline snapshot → context
 * ingestion → post-context snapshot → control ingestion (+ enrichment) → post-controls snapshot
 * → indexing → production snapshot. It stops cleanly at the first failing stage and names the
 * last good checkpoint; with rollbackOnFailure it restores the checkpoint taken before the
 * failing stage by itself.
 */
import { statSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { NfrError, toNfrError } from '../errors.js';
import { runEnrichment } from '../enrich/run.js';
import { syncIndex } from '../index/sync.js';
import { ingestContext } from '../ingest/context.js';
import { ingestControlsFile } from '../ingest/controls.js';
import { migrateToHead } from '../postgres/migrate.js';
import { writeNistSample } from '../sample/nist.js';
import { createSnapshot } from '../snapshot/create.js';
import type { SnapshotId } from '../snapshot/ids.js';
import { restoreSnapshot } from '../snapshot/restore/index.js';
import { openContext } from './context.js';
import { type Context } from '../runtime/context.js';

export interface PipelineOptions {
  /** Context providers directory (default CONTEXT_PROVIDERS_PATH when context is run). */
  readonly contextDir?: string | undefined;
  /** Controls CSV to ingest. */
  readonly controlsFile?: string | undefined;
  /** Take a checkpoint snapshot before and after the stages. */
  readonly snapshots?: boolean | undefined;
  /** Use the shipped sample (NIST SP 800-53 rev5 HIGH controls and their context). */
  readonly sample?: boolean | undefined;
  /** Restore the checkpoint taken before a failing stage (implies snapshots). */
  readonly rollbackOnFailure?: boolean | undefined;
  readonly onEvent?: ((event: PipelineEvent) => void) | undefined;
}

export type StepKind = 'setup' | 'snapshot' | 'context' | 'controls' | 'enrichment' | 'index' | 'rollback';

export interface StepResult {
  readonly step: string;
  readonly kind: StepKind;
  readonly status: 'completed' | 'failed' | 'skipped';
  readonly duration_ms: number;
  /** One line saying what the step did (counts, snapshot id). */
  readonly summary: string;
  readonly snapshot_id?: string | undefined;
  readonly error?: { readonly code: string; readonly message: string } | undefined;
}

export type PipelineEvent = { readonly type: 'start'; readonly step: string } | { readonly type: 'end'; readonly result: StepResult };

export interface PipelineResult {
  readonly ok: boolean;
  readonly steps: StepResult[];
  /** The newest checkpoint taken while the pipeline was still good. */
  readonly last_good_checkpoint: string | null;
  readonly rolled_back_to: string | null;
  readonly duration_ms: number;
}

interface Step {
  readonly name: string;
  readonly kind: StepKind;
  readonly run: () => Promise<{ summary: string; snapshotId?: string }>;
}

/** Runs the pipeline; resolves with every step's result, `ok: false` when a stage failed. */
export async function runPipeline(config: Config, options: PipelineOptions): Promise<PipelineResult> {
  const started = Date.now();
  const ctx = await openContext(config);
  const inputs = resolveInputs(config, options);
  const steps = planSteps(ctx, config, options, inputs);
  return runSteps(ctx, steps, options, started);
}

/** The files the stages read; the sample step fills them in when it writes the sample. */
interface Inputs {
  contextDir: string | undefined;
  controlsFile: string | undefined;
  readonly runsContext: boolean;
  readonly runsControls: boolean;
}

function resolveInputs(config: Config, options: PipelineOptions): Inputs {
  let contextDir = options.contextDir;
  const controlsFile = options.controlsFile;
  // With neither given, the configured providers folder is the input, as for `nfr ingest context`.
  if (options.sample !== true && contextDir === undefined && controlsFile === undefined && statSync(config.contextProvidersPath, { throwIfNoEntry: false })?.isDirectory()) {
    contextDir = config.contextProvidersPath;
  }
  const runsContext = options.sample === true || contextDir !== undefined;
  const runsControls = options.sample === true || controlsFile !== undefined;
  if (!runsContext && !runsControls) {
    throw new NfrError('USAGE', `nothing to run: give --context DIR and/or --controls FILE, or --sample (CONTEXT_PROVIDERS_PATH ${config.contextProvidersPath} does not exist)`);
  }
  return { contextDir, controlsFile, runsContext, runsControls };
}

/** The steps in order: setup, then each stage with its checkpoint after it when snapshots are on. */
function planSteps(ctx: Context, config: Config, options: PipelineOptions, inputs: Inputs): Step[] {
  const snapshots = options.snapshots === true || options.rollbackOnFailure === true;
  const checkpoint = (name: string, tag: string): Step[] => (snapshots ? [{ name: `${name} snapshot`, kind: 'snapshot', run: () => takeCheckpoint(ctx, `${name} checkpoint`, tag) }] : []);
  const upload: { id: string | null } = { id: null };
  return [
    migrationStep(ctx),
    ...(options.sample ? [sampleStep(config, inputs)] : []),
    ...checkpoint('pre-pipeline', 'pipeline:pre'),
    ...(inputs.runsContext ? [contextStep(ctx, inputs), ...checkpoint('post-context', 'pipeline:context')] : []),
    ...(inputs.runsControls ? [controlsStep(ctx, inputs, upload), enrichmentStep(ctx, upload), ...checkpoint('post-controls', 'pipeline:controls')] : []),
    indexStep(ctx),
    ...checkpoint('production', 'pipeline:production'),
  ];
}

function migrationStep(ctx: Context): Step {
  return {
    name: 'schema migration',
    kind: 'setup',
    run: async () => {
      const applied = await migrateToHead(ctx.target);
      return { summary: applied.length ? `applied ${applied.join(', ')}` : 'schema up to date' };
    },
  };
}

function sampleStep(config: Config, inputs: Inputs): Step {
  return {
    name: 'sample data',
    kind: 'setup',
    run: async () => {
      const out = path.join(config.home, 'sample');
      const summary = await writeNistSample({ outDir: out });
      inputs.contextDir ??= path.join(out, 'context');
      inputs.controlsFile ??= path.join(out, 'controls.csv');
      return { summary: `NIST SP 800-53 rev5 HIGH: ${summary.controls} controls in ${out}` };
    },
  };
}

function contextStep(ctx: Context, inputs: Inputs): Step {
  return {
    name: 'context ingestion',
    kind: 'context',
    run: async () => {
      const report = await ingestContext(ctx, { path: inputs.contextDir });
      if (!report.ok) throw new NfrError('INVALID_INPUT', `context ingestion rejected ${report.totals.files_rejected} file(s); run \`nfr ingest context --path ${report.path}\` to see the errors`);
      const t = report.totals;
      return { summary: `${t.files_applied} files, ${t.lines_read} lines: ${t.inserted} new, ${t.updated} changed, ${t.closed} closed, ${t.unchanged} unchanged` };
    },
  };
}

function controlsStep(ctx: Context, inputs: Inputs, upload: { id: string | null }): Step {
  return {
    name: 'control ingestion',
    kind: 'controls',
    run: async () => {
      if (!inputs.controlsFile) throw new NfrError('USAGE', 'no controls file: give --controls FILE');
      const r = await ingestControlsFile(ctx, inputs.controlsFile);
      upload.id = r.upload_id;
      const c = r.controls;
      return { summary: `${r.upload_id}: ${r.rows.read} rows: ${c.inserted} new, ${c.updated} changed, ${c.unchanged} unchanged` };
    },
  };
}

function enrichmentStep(ctx: Context, upload: { readonly id: string | null }): Step {
  return {
    name: 'enrichment',
    kind: 'enrichment',
    run: async () => {
      if (!upload.id) return { summary: 'nothing ingested' };
      const r = await runEnrichment(ctx, { uploadId: upload.id });
      return { summary: `${r.controls_computed} of ${r.controls_current} controls computed (${Object.entries(r.rows).map(([k, n]) => `${k} ${n}`).join(', ')})` };
    },
  };
}

function indexStep(ctx: Context): Step {
  return {
    name: 'indexing',
    kind: 'index',
    run: async () => {
      const r = await syncIndex(ctx);
      return { summary: `${r.backend} index: ${r.points} points (${r.upserted} upserted, ${r.deleted} deleted, ${r.unchanged} unchanged)` };
    },
  };
}

/**
 * Runs the steps in order and stops at the first failure: the rest are reported skipped, and with
 * rollbackOnFailure the checkpoint taken before the failing stage is restored.
 */
async function runSteps(ctx: Context, steps: readonly Step[], options: PipelineOptions, started: number): Promise<PipelineResult> {
  const emit = options.onEvent ?? (() => {});
  const results: StepResult[] = [];
  let lastGood: string | null = null;
  for (const [i, step] of steps.entries()) {
    emit({ type: 'start', step: step.name });
    const t0 = Date.now();
    try {
      const out = await step.run();
      const result: StepResult = { step: step.name, kind: step.kind, status: 'completed', duration_ms: Date.now() - t0, summary: out.summary, snapshot_id: out.snapshotId };
      results.push(result);
      emit({ type: 'end', result });
      if (out.snapshotId) lastGood = out.snapshotId;
    } catch (err) {
      const e = toNfrError(err);
      const result: StepResult = { step: step.name, kind: step.kind, status: 'failed', duration_ms: Date.now() - t0, summary: e.message.split('\n')[0] ?? '', error: { code: e.code, message: e.message } };
      results.push(result);
      emit({ type: 'end', result });
      for (const rest of steps.slice(i + 1)) results.push({ step: rest.name, kind: rest.kind, status: 'skipped', duration_ms: 0, summary: 'not run' });
      // Checkpoints are taken only while the pipeline is good, so the last one precedes this stage.
      const rolledBackTo = options.rollbackOnFailure && lastGood ? await rollback(ctx, lastGood, results, emit) : null;
      return { ok: false, steps: results, last_good_checkpoint: lastGood, rolled_back_to: rolledBackTo, duration_ms: Date.now() - started };
    }
  }
  return { ok: true, steps: results, last_good_checkpoint: lastGood, rolled_back_to: null, duration_ms: Date.now() - started };
}

async function takeCheckpoint(ctx: Context, name: string, tag: string): Promise<{ summary: string; snapshotId: string }> {
  const m = await createSnapshot(ctx, { name, tags: ['pipeline', tag], description: 'Checkpoint taken by nfr pipeline run' });
  // With NFR_S3_REPOSITORY the checkpoint is also uploaded; a failed upload leaves it completed
  // but not offsite yet, which the step says as `nfr snapshot create` does.
  const offsite = m.offsite?.status === 'completed' ? '; offsite' : m.offsite?.status === 'failed' ? `; ${m.offsite.error}` : '';
  return { summary: `${m.id} (${m.tables.reduce((s, t) => s + t.rows, 0)} rows)${offsite}`, snapshotId: m.id };
}

async function rollback(ctx: Context, id: string, results: StepResult[], emit: (e: PipelineEvent) => void): Promise<string | null> {
  const name = `rollback to ${id}`;
  emit({ type: 'start', step: name });
  const t0 = Date.now();
  try {
    // The failed stage's own transaction already rolled back; the restore also undoes what the
    // stages before it in the same run wrote after the checkpoint. No pre-restore backup: the
    // replaced database is kept for `nfr snapshot restore --undo`.
    const r = await restoreSnapshot(ctx, { id: id as SnapshotId, skipBackup: true });
    const result: StepResult = { step: name, kind: 'rollback', status: 'completed', duration_ms: Date.now() - t0, summary: `restored ${r.snapshot_id}; undo with nfr snapshot restore --undo`, snapshot_id: id };
    results.push(result);
    emit({ type: 'end', result });
    return id;
  } catch (err) {
    const e = toNfrError(err);
    const result: StepResult = { step: name, kind: 'rollback', status: 'failed', duration_ms: Date.now() - t0, summary: e.message.split('\n')[0] ?? '', error: { code: e.code, message: e.message } };
    results.push(result);
    emit({ type: 'end', result });
    return null;
  }
}
