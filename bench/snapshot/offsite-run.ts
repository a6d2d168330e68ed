/**
 * `npm run bench:offsite`: only the offsite row of `npm run bench:snapshot` (offsite.ts), for
 * measuring the repository without the create, restore and warm rows around it: builds the same
 * set (BENCH_SIZE_MB, default 1024), takes one nfr snapshot of it, then runs the upload, download
 * and restore-from-the-bucket comparisons BENCH_OFFSITE_RUNS times. The report and a final
 * `RESULT {json}` line go to stdout, progress to stderr.
 */
import { runBench } from '../main.js';
import { Commands } from './commands.js';
import { buildDataset } from './dataset.js';
import { formatOffsite, measureOffsite } from './offsite.js';
import { readSettings } from './settings.js';
import { Workspace } from './workspace.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

async function run(signal: AbortSignal): Promise<void> {
  const settings = readSettings();
  const ws = await Workspace.open(settings);
  try {
    const { tools } = await ws.clientTools();
    log(`bench: building a ${settings.sizeMb} MiB database in ${ws.root}`);
    const dataset = await buildDataset(ws.live, settings.sizeMb, log, signal);
    log(`bench: built ${(dataset.size_bytes / 1024 / 1024).toFixed(0)} MiB in ${dataset.build_seconds.toFixed(1)} s`);
    const cmd = new Commands(ws, tools, signal);
    await ws.checkpoint();
    const created = await cmd.nfrCreate('bench-offsite');
    log(`bench: nfr snapshot create ${created.seconds.toFixed(2)} s (${created.value.id}); offsite, ${settings.offsiteRuns} run(s)`);
    const offsite = await measureOffsite(ws, cmd, created.value.id, settings.offsiteRuns, log);
    process.stdout.write(`${formatOffsite(offsite).join('\n')}\n\nRESULT ${JSON.stringify({ dataset_bytes: dataset.size_bytes, offsite })}\n`);
  } finally {
    log(`bench: stopping the cluster and removing ${ws.root}`);
    await ws.dispose();
  }
}

const controller = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => controller.abort());
runBench(() => run(controller.signal));
