/** `nfr ingest controls FILE.csv`: flags become options for the core; the result is printed. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { ingestControlsFile } from '../ingest/controls.js';
import { afterControlsIngested, type IngestWithEnrichment } from '../pipeline/controls.js';
import { openContext } from '../pipeline/context.js';
import { emit, formatBytes, formatDuration, progressLine } from './output.js';

interface Flags {
  enrich: boolean;
  skipInvalid?: boolean;
  closeMissing?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

/** Adds `controls` to the `nfr ingest` command. */
export function registerControlsIngest(ingest: Command): void {
  ingest
    .command('controls')
    .description('load a controls CSV (stored as an upload UPL-YYYY-NNNN) with versioning')
    .argument('<file>', 'controls CSV: header row with control_id, title and optional columns (see README)')
    .option('--skip-invalid', 'write the valid rows and report the invalid ones (default: any invalid row rejects the whole file)')
    .option('--close-missing', 'the file is the complete inventory: close current controls that are not in it')
    .option('--dry-run', 'validate and count what would change; write nothing, store nothing')
    .option('--no-enrich', 'do not run the enrichment models afterwards (a later ingestion or pipeline run computes what is missing)')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, opts: Flags) => {
      const ctx = await openContext(loadConfig());
      const bar = progressLine(opts);
      try {
        const ingested = await ingestControlsFile(ctx, file, {
          skipInvalid: opts.skipInvalid,
          closeMissing: opts.closeMissing,
          dryRun: opts.dryRun,
          onProgress: bar.update,
        });
        // Enrichment and, with AUTO_SNAPSHOT_AFTER_INGESTION, a snapshot: as after an API upload.
        const r = await afterControlsIngested(ctx, ingested, { enrich: opts.enrich, report: ({ step }) => bar.update({ phase: step }) });
        bar.done();
        emit(opts, r, human);
      } finally {
        bar.done();
      }
    });
}

function human(r: IngestWithEnrichment & { readonly auto_snapshot_id: string | null }): string {
  const c = r.controls;
  const head = r.dry_run
    ? `dry run of ${r.file} (nothing written):`
    : `${r.upload_id} ${r.file} (${formatBytes(r.size_bytes)}) stored as ${r.stored_file}:`;
  const lines = [
    head,
    `  rows: ${r.rows.read} read, ${r.rows.valid} valid, ${r.rows.rejected} rejected`,
    `  controls: ${c.inserted} new, ${c.updated} changed, ${c.unchanged} unchanged, ${c.closed} closed`,
    ...Object.entries(r.relations).map(([name, rel]) => `  ${name.replace('_', ' ')}: ${rel.opened} opened, ${rel.closed} closed, ${rel.unchanged} unchanged`),
    `  text changed: ${r.text_changed.count} control(s)`,
    `  in ${formatDuration(r.duration_ms)}`,
  ];
  if (r.enrichment) {
    const e = r.enrichment;
    lines.push(`  enrichment: ${e.controls_computed} of ${e.controls_current} controls computed in ${formatDuration(e.duration_ms)}${e.skipped.length ? ` (${e.skipped.join('; ')})` : ''}`);
  }
  if (r.auto_snapshot_id) lines.push(`  snapshot ${r.auto_snapshot_id} taken (AUTO_SNAPSHOT_AFTER_INGESTION)`);
  if (r.error_count > 0) {
    lines.push(`  ${r.error_count} problem(s) in rejected rows:`);
    for (const e of r.errors.slice(0, 20)) lines.push(`    line ${e.line}, ${e.field}: ${e.message}`);
    if (r.error_count > 20) lines.push(`    ... and ${r.error_count - 20} more (--json lists up to ${r.errors.length})`);
  }
  return lines.join('\n');
}
