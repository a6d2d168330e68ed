/** `nfr index` and `nfr search`: flags become options for src/index/ and src/search/; results are printed. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { checkIndex, type CheckResult } from '../index/check.js';
import { openContext } from '../pipeline/context.js';
import { syncIndex } from '../index/sync.js';
import type { SearchFilter } from '../index/types.js';
import { DEFAULT_LIMIT, MAX_LIMIT, SEARCH_MODES, parseSearchMode, searchControls, type SearchResult } from '../search/search.js';
import { intFlag } from './flags.js';
import { emit, formatDuration, table } from './output.js';

interface Common {
  json?: boolean;
}

const limitFlag = intFlag('--limit', 1, MAX_LIMIT);

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
      const r = await syncIndex(await openContext(config), { force: opts.force === true });
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
    .description('find controls: hybrid (keywords and meaning, ids first) by default')
    .argument('<text>', 'what to look for: a question, keywords, or a control id')
    .option('--mode <mode>', `${SEARCH_MODES.join(' | ')} (default hybrid)`)
    .option('--status <status>', 'only controls with this status (repeatable, or a,b)', list)
    .option('--function <id>', 'only controls owned by this function (repeatable)', list)
    .option('--location <id>', 'only controls owned at this location (repeatable)', list)
    .option('--theme <id>', 'only controls linked to this risk theme (repeatable)', list)
    .option('--family <id>', 'only controls of this family, e.g. AC (repeatable)', list)
    .option('--key-control <yes|no>', 'only key controls (yes) or only the others (no)')
    .option('--limit <n>', `number of results, 1 to ${MAX_LIMIT} (default ${DEFAULT_LIMIT})`, limitFlag)
    .option('--cursor <cursor>', 'the next page: the next_cursor a previous search printed')
    .option('--json', 'print JSON')
    .action(async (text: string, opts: Common & SearchFlags) => {
      const r = await searchControls(loadConfig(), { q: text, mode: parseSearchMode(opts.mode, '--mode'), filter: filterFromFlags(opts), limit: opts.limit ?? DEFAULT_LIMIT, cursor: opts.cursor });
      for (const w of r.warnings) process.stderr.write(`nfr: warning: ${w}\n`);
      emit(opts, r, renderSearch);
    });
}

interface SearchFlags {
  mode?: string;
  status?: string[];
  function?: string[];
  location?: string[];
  theme?: string[];
  family?: string[];
  keyControl?: string;
  limit?: number;
  cursor?: string;
}

/** A repeatable flag whose values may also be comma-separated. */
function list(value: string, previous: string[] = []): string[] {
  const values = value.split(',').map((v) => v.trim()).filter(Boolean);
  if (values.length === 0) throw new NfrError('USAGE', `an empty filter value: give at least one value`);
  return [...previous, ...values];
}

function filterFromFlags(opts: SearchFlags): SearchFilter {
  let keyControl: boolean | undefined;
  if (opts.keyControl !== undefined) {
    if (!/^(yes|no|true|false)$/i.test(opts.keyControl)) throw new NfrError('USAGE', `--key-control ${opts.keyControl}: expected yes or no`);
    keyControl = /^(yes|true)$/i.test(opts.keyControl);
  }
  return { status: opts.status, owning_function_id: opts.function, owning_location_id: opts.location, risk_theme_id: opts.theme, family_id: opts.family, key_control: keyControl };
}

function renderSearch(r: SearchResult): string {
  if (r.results.length === 0) return `no results${r.index_points !== null ? ` (${r.index_points} points indexed)` : ''}`;
  const rows = r.results.map((h, i) => [
    String(r.offset + i + 1),
    h.control_id,
    r.mode === 'id' ? '-' : h.score.toFixed(4),
    h.status ?? '-',
    h.family_id ?? '-',
    h.title.length > 70 ? `${h.title.slice(0, 67)}...` : h.title,
  ]);
  const lines = [table(['#', 'CONTROL', 'SCORE', 'STATUS', 'FAMILY', 'TITLE'], rows)];
  if (r.next_cursor) lines.push(`more: --cursor ${r.next_cursor}`);
  return lines.join('\n');
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
