/** `nfr sample ...`: writes sample context files and controls CSV. Flags become options; no logic here. */
import type { Command } from 'commander';
import { generateSample } from '../sample/generate.js';
import { writeNistSample } from '../sample/nist.js';
import type { SampleSummary } from '../sample/options.js';
import { intFlag } from './flags.js';
import { emit, formatBytes, formatDuration, table } from './output.js';

interface Common {
  json?: boolean;
  out: string;
  date?: string;
}


function human(s: SampleSummary): string {
  const rows = s.files.map((f) => [f.path, String(f.rows), formatBytes(f.bytes)]);
  return `${table(['FILE', 'ROWS', 'SIZE'], rows)}\n\nwrote ${s.controls} controls and their context to ${s.out_dir} (date ${s.date}${s.seed === null ? '' : `, seed ${s.seed}`}) in ${formatDuration(s.duration_ms)}`;
}

export function registerSampleCommands(program: Command): void {
  const sample = program.command('sample').description('write sample context files and a controls CSV to ingest');

  sample
    .command('nist')
    .description('the NIST SP 800-53 rev5 HIGH baseline (370 controls) as context files and a controls CSV')
    .requiredOption('--out <dir>', 'output directory (context/ and controls.csv are written in it)')
    .option('--date <YYYY-MM-DD>', 'date folder of the context files (default 2026-01-01)')
    .option('--json', 'print JSON')
    .action(async (opts: Common) => {
      const summary = await writeNistSample({ outDir: opts.out, date: opts.date });
      emit(opts, summary, human);
    });

  sample
    .command('generate')
    .description('large realistic generated data for tests and benchmarks, the same for the same seed')
    .requiredOption('--out <dir>', 'output directory (context/ and controls.csv are written in it)')
    .requiredOption('--controls <n>', 'number of controls', intFlag('--controls', 1))
    .option('--seed <n>', 'seed of the generator (default 1)', intFlag('--seed', 0))
    .option('--date <YYYY-MM-DD>', 'date folder of the context files (default 2026-01-01)')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { controls: number; seed?: number }) => {
      const summary = await generateSample({ outDir: opts.out, controls: opts.controls, seed: opts.seed, date: opts.date });
      emit(opts, summary, human);
    });
}
