/** `nfr ingest context`: flags become options for the core; the report is printed. No logic here. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { ingestContext, type ContextIngestReport, type FileReport } from '../ingest/context.js';
import { openContext } from '../pipeline/context.js';
import { afterContextIngested } from '../pipeline/controls.js';
import { emit, formatDuration } from './output.js';

interface ContextFlags {
  json?: boolean;
  path?: string;
  dryRun?: boolean;
  skipInvalid?: boolean;
  allowEmpty?: boolean;
}

/** Adds `context` to the `ingest` command. */
export function registerContextIngest(ingest: Command): void {
  ingest
    .command('context')
    .description('load the latest YYYY-MM-DD folder of each context provider (organization, risk_theme, assessment_unit)')
    .option('--path <dir>', 'providers directory (default CONTEXT_PROVIDERS_PATH)')
    .option('--dry-run', 'validate, stage and count the changes, then roll back: nothing is written')
    .option('--skip-invalid', 'write the valid lines of a file with bad lines (default: reject the whole file)')
    .option('--allow-empty', 'accept an empty file, closing every entity of that file (default: reject it)')
    .option('--json', 'print the report as JSON')
    .action(async (opts: ContextFlags) => {
      const ctx = await openContext(loadConfig());
      const ingested = await ingestContext(ctx, { path: opts.path, dryRun: opts.dryRun, skipInvalid: opts.skipInvalid, allowEmpty: opts.allowEmpty });
      // With AUTO_SNAPSHOT_AFTER_INGESTION, a snapshot of what it applied: as after the API's job.
      const report = await afterContextIngested(ctx, ingested);
      emit(opts, report, render);
      if (!report.ok) {
        const rejected = report.providers.flatMap((p) => p.files).filter((f) => f.status !== 'applied').map((f) => f.file);
        throw new NfrError('INVALID_INPUT', `${rejected.length} file(s) rejected, nothing of them was written: ${rejected.join(', ')}`, {
          details: { rejected_files: rejected, reported: true },
        });
      }
    });
}

function render(r: ContextIngestReport & { readonly auto_snapshot_id: string | null }): string {
  const lines = [`${r.dry_run ? 'dry run (rolled back): ' : ''}context ingestion${r.upload_id ? ` ${r.upload_id}` : ''} from ${r.path} in ${formatDuration(r.duration_ms)}`];
  for (const p of r.providers) {
    if (p.status === 'missing') {
      lines.push(`  ${p.provider}: no YYYY-MM-DD folder, skipped`);
      continue;
    }
    for (const f of p.files) {
      const shown = f.errors.slice(0, 20);
      lines.push(`  ${fileLine(f)}`, ...shown.map((e) => `      ${e.file}${e.line === null ? '' : `:${e.line}`}${e.field ? ` ${e.field}` : ''}: ${e.message}`));
      if (f.errors_total > shown.length) lines.push(`      ... ${f.errors_total} problem(s) in all (--json lists up to 100)`);
    }
  }
  const t = r.totals;
  lines.push(`  total: ${t.files_applied} file(s) applied, ${t.files_rejected} rejected; ${t.lines_read} lines, ${t.rejected} rejected; ${t.inserted} inserted, ${t.updated} updated, ${t.unchanged} unchanged, ${t.closed} closed; stage ${r.stage}`);
  if (r.auto_snapshot_id) lines.push(`  snapshot ${r.auto_snapshot_id} taken (AUTO_SNAPSHOT_AFTER_INGESTION)`);
  return lines.join('\n');
}

function fileLine(f: FileReport): string {
  const counts = `${f.lines_read} lines (${f.valid} valid, ${f.rejected} rejected${f.kept ? `, ${f.kept} kept at their current version` : ''})`;
  if (f.status !== 'applied') return `${f.file}: ${f.status.toUpperCase()} ${counts}`;
  return `${f.file}: applied ${counts}: ${f.inserted} inserted, ${f.updated} updated, ${f.unchanged} unchanged, ${f.closed} closed`;
}
