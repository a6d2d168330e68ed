/** `nfr index` and `nfr search`: flags become options for src/index/; results are printed. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { checkIndex, type CheckResult } from '../index/check.js';
import { DEFAULT_LIMIT, MAX_LIMIT, searchControls } from '../index/search.js';
import { syncIndex } from '../index/sync.js';
import { emit, formatDuration, table } from './output.js';

interface Common {
  json?: boolean;
}

const limitFlag = (value: string): number => {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_LIMIT) throw new NfrError('USAGE', `--limit ${value}: expected an integer from 1 to ${MAX_LIMIT}`);
  return Number(value);
};

/** Registers the top-level `index` and `search` commands. */
export function registerIndexCommands(program: Command): void {
  program
    .command('index')
    .description('sync the vector index with the current controls (incremental by text hash)')
    .option('--force', 'rebuild the index from scratch (needed after an embedding model change)')
    .option('--check', 'compare PostgreSQL and the index by ids and hashes; change nothing')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { force?: boolean; check?: boolean }) => {
      if (opts.force && opts.check) throw new NfrError('USAGE', '--check changes nothing; it cannot be combined with --force');
      const config = loadConfig();
      if (opts.check) {
        const r = await checkIndex(config);
        emit(opts, r, renderCheck);
        // A model mismatch exits as it does for `nfr index` and `nfr search` (5); differences, 6.
        if (!r.ok) throw new NfrError(r.model_mismatch ? 'SCHEMA_MISMATCH' : 'VERIFY_FAILED', `the index does not match PostgreSQL: ${checkSummary(r)}; run \`nfr index${r.model_mismatch ? ' --force' : ''}\``, { details: { reported: true } });
        return;
      }
      const r = await syncIndex(config, { force: opts.force === true });
      emit(opts, r, () =>
        [
          `${r.forced ? 'rebuilt' : 'synced'} ${r.backend} index (${r.location}): ${r.points} points for ${r.controls} current controls in ${formatDuration(r.duration_ms)}`,
          `  upserted ${r.upserted} (embedded ${r.embedded}, reused ${r.reused} stored embeddings), deleted ${r.deleted}, unchanged ${r.unchanged}`,
          `  model ${r.model.model}, ${r.model.dimension} dimensions, ${r.model.distance}`,
        ].join('\n'),
      );
    });

  program
    .command('search')
    .description('find the controls nearest to a text')
    .argument('<text>', 'what to look for, in natural language')
    .option('--limit <n>', `number of results, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})`, limitFlag)
    .option('--json', 'print JSON')
    .action(async (text: string, opts: Common & { limit?: number }) => {
      const r = await searchControls(loadConfig(), text, { limit: opts.limit ?? DEFAULT_LIMIT });
      for (const w of r.warnings) process.stderr.write(`nfr: warning: ${w}\n`);
      emit(opts, r, () =>
        r.results.length === 0
          ? `no results (${r.index_points} points indexed)`
          : table(
              ['#', 'CONTROL', 'SCORE', 'STATUS', 'TITLE'],
              r.results.map((h, i) => [String(i + 1), h.control_id, h.score.toFixed(4), h.status ?? '-', h.title.length > 80 ? `${h.title.slice(0, 77)}...` : h.title]),
            ),
      );
    });
}

function checkSummary(r: CheckResult): string {
  if (!r.index_exists) return `no index at ${r.location}`;
  if (r.model_mismatch) return r.model_mismatch;
  return `${r.missing.count} missing, ${r.stale.count} stale, ${r.orphan.count} orphan point(s)`;
}

function renderCheck(r: CheckResult): string {
  const lines = [`${r.ok ? 'OK' : 'INCONSISTENT'}: ${r.backend} index (${r.location}), ${r.points} points, ${r.controls} current controls`];
  if (!r.index_exists) lines.push('  the index does not exist yet: run `nfr index`');
  if (r.model_mismatch) lines.push(`  ${r.model_mismatch}`);
  const list = (name: string, count: number, ids: string[]) => {
    if (count > 0) lines.push(`  ${name.padEnd(8)} ${count}: ${ids.join(', ')}${count > ids.length ? ', ...' : ''}`);
  };
  list('missing', r.missing.count, r.missing.ids);
  list('stale', r.stale.count, r.stale.ids.map((s) => `${s.control_id} (${s.reason})`));
  list('orphan', r.orphan.count, r.orphan.ids);
  if (r.index_exists && !r.up_to_date_signature && r.ok) lines.push('  note: controls were written since the last sync (no indexed field changed)');
  return lines.join('\n');
}
