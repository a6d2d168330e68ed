/** `nfr pipeline run`: every stage with checkpoints, a line per stage, a summary table. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { ERROR_CODES, NfrError, type ErrorCode } from '../errors.js';
import { runPipeline, type PipelineResult } from '../pipeline/run.js';
import { emit, formatDuration, table } from './output.js';

export function registerPipelineCommands(program: Command): void {
  const pipeline = program.command('pipeline').description('run the whole pipeline with checkpoints');
  pipeline
    .command('run')
    .description('context ingestion → control ingestion + enrichment → indexing, with snapshots between stages')
    .option('--context <dir>', 'context providers directory')
    .option('--controls <file>', 'controls CSV')
    .option('--snapshots', 'take a checkpoint snapshot before and after the stages')
    .option('--sample', 'use the shipped NIST SP 800-53 rev5 HIGH sample (context and controls)')
    .option('--rollback-on-failure', 'restore the checkpoint taken before a failing stage (implies --snapshots)')
    .option('--json', 'print JSON')
    .action(async (opts: { context?: string; controls?: string; snapshots?: boolean; sample?: boolean; rollbackOnFailure?: boolean; json?: boolean }) => {
      const live = !opts.json;
      const result = await runPipeline(loadConfig(), {
        contextDir: opts.context,
        controlsFile: opts.controls,
        snapshots: opts.snapshots,
        sample: opts.sample,
        rollbackOnFailure: opts.rollbackOnFailure,
        onEvent: (e) => {
          if (!live) return;
          if (e.type === 'start') process.stderr.write(`▶ ${e.step} ...\n`);
          else process.stderr.write(`${e.result.status === 'completed' ? '✔' : '✘'} ${e.result.step} (${formatDuration(e.result.duration_ms)}): ${e.result.summary}\n`);
        },
      });
      if (result.ok) {
        emit(opts, result, render);
        return;
      }
      const failed = result.steps.find((s) => s.status === 'failed' && s.kind !== 'rollback');
      const failedCode = failed?.error?.code ?? 'INTERNAL';
      const code: ErrorCode = failedCode in ERROR_CODES ? (failedCode as ErrorCode) : 'INTERNAL';
      const where = result.rolled_back_to
        ? `rolled back to ${result.rolled_back_to}`
        : result.last_good_checkpoint
          ? `last good checkpoint: ${result.last_good_checkpoint} (restore it with: nfr snapshot restore --id ${result.last_good_checkpoint} --yes)`
          : 'no checkpoint was taken (use --snapshots)';
      const message = `pipeline stopped at "${failed?.step}": ${failed?.error?.message ?? 'failed'}\n${where}`;
      // With --json the one document carries the steps and the error in the shape of every other
      // command's errors.
      emit(opts, { ...result, error: { code, message } }, render);
      throw new NfrError(code, message, { details: { reported: true } });
    });
}

function render(r: PipelineResult): string {
  const rows = r.steps.map((s) => [s.status === 'completed' ? 'ok' : s.status, s.step, s.status === 'skipped' ? '' : formatDuration(s.duration_ms), s.snapshot_id ?? '', s.summary]);
  return `${table(['', 'STAGE', 'TIME', 'CHECKPOINT', 'RESULT'], rows)}\n\n${r.ok ? 'pipeline completed' : 'pipeline FAILED'} in ${formatDuration(r.duration_ms)}`;
}
