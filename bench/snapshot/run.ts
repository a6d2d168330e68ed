/**
 * `npm run bench:snapshot`: nfr snapshot create/restore/undo against raw pg_dump/pg_restore on a
 * throwaway cluster holding a ~1 GB controls database (BENCH_SIZE_MB, BENCH_RUNS, BENCH_DIR,
 * POSTGRES_BACKUP_PARALLEL_JOBS, POSTGRES_BACKUP_COMPRESSION); then full snapshots with an
 * embedded index of BENCH_FULL_CONTROLS controls (default 100,000; BENCH_FULL=0 skips them); and
 * warm restores against raw pg_restore and cp -a of the database directory (BENCH_WARM=0 skips them);
 * and the offsite repository on a loopback Swift (BENCH_OFFSITE=0 skips it, BENCH_OFFSITE_RUNS repeats
 * it; see offsite.ts).
 * The instant-restore rows (spare restore whole command at 1 GB and 4 GB beside the clone restore
 * and raw pg_restore -j2, the diff from history) are `npm run bench:spare` (spare.ts): each size
 * needs a cluster of its own.
 *
 * Progress goes to stderr; the report and a final `RESULT {json}` line go to stdout. A missed
 * target is a measurement, not a failure: the exit code is non-zero only if something broke.
 */
import { rm } from 'node:fs/promises';
import { Commands } from './commands.js';
import { buildDataset } from './dataset.js';
import { formatFull, measureFull, type FullResults } from './full.js';
import { timeChecksums, timeRowCounts } from './diagnostics.js';
import { measureCreate, measureProbedRestore, measureRestore } from './measure.js';
import { formatReport, median, resultLine, type Results } from './report.js';
import { readSettings } from './settings.js';
import { Workspace } from './workspace.js';
import { formatWarm, measureWarm, type WarmResults } from './warm.js';
import { formatOffsite, measureOffsite, type OffsiteResults } from './offsite.js';
import { runBench } from '../main.js';

const log = (line: string) => process.stderr.write(`${line}\n`);

async function run(signal: AbortSignal): Promise<void> {
  const settings = readSettings();
  log(`bench: starting a cluster under ${settings.parentDir}`);
  const ws = await Workspace.open(settings);
  try {
    const { version, tools } = await ws.clientTools();

    log(`bench: building a ${settings.sizeMb} MiB database in ${ws.root}`);
    const dataset = await buildDataset(ws.live, settings.sizeMb, log, signal);
    log(`bench: built ${(dataset.size_bytes / 1024 / 1024).toFixed(0)} MiB in ${dataset.build_seconds.toFixed(1)} s`);

    const cmd = new Commands(ws, tools, signal);
    log(`bench: create, ${settings.runs} run(s) each`);
    const create = await measureCreate(ws, cmd, settings.runs, log);

    log('bench: diagnostics');
    const diagnostics = {
      nfr_startup_s: median([await cmd.nfrStartup(), await cmd.nfrStartup(), await cmd.nfrStartup()]),
      checksum_archive_s: await timeChecksums(create.dumpDir, settings.jobs),
      count_rows_s: await timeRowCounts(ws.live),
    };

    log(`bench: restore and undo, ${settings.runs} run(s) each`);
    const restore = await measureRestore(ws, cmd, create, dataset.control_versions, settings.runs, log);
    log('bench: restore with a client probing the live database');
    const probedRestore = await measureProbedRestore(ws, cmd, create.snapshotId, log);

    let warm: WarmResults | undefined;
    if (process.env.BENCH_WARM !== '0') {
      log(`bench: warm snapshot and warm restores, ${settings.runs} run(s)`);
      warm = await measureWarm(ws, cmd, create.snapshotId, settings.runs, log);
    }

    let offsite: OffsiteResults | undefined;
    if (process.env.BENCH_OFFSITE !== '0') {
      log('bench: offsite repository (upload, download, restore from the bucket)');
      offsite = await measureOffsite(ws, cmd, create.snapshotId, settings.offsiteRuns, log);
    }

    await cmd.nfrDelete(create.snapshotId);
    await rm(create.dumpDir, { recursive: true, force: true });

    let full: FullResults | undefined;
    if (process.env.BENCH_FULL !== '0') {
      const controls = Number(process.env.BENCH_FULL_CONTROLS ?? 100_000);
      log(`bench: full snapshots with ${controls} indexed controls, ${settings.runs} run(s)`);
      full = await measureFull(ws, cmd, controls, settings.runs, log);
    }

    const results: Results = {
      settings: { sizeMb: settings.sizeMb, runs: settings.runs, jobs: settings.jobs, compression: settings.compression, offsiteRuns: settings.offsiteRuns },
      server_version: version,
      dataset,
      create,
      restore,
      probed_restore: probedRestore,
      diagnostics,
      full,
      warm,
      offsite,
    };
    process.stdout.write(formatReport(results).join('\n') + '\n\n');
    if (warm) process.stdout.write(formatWarm(warm, median(restore.nfr_s), median(restore.raw_s), diagnostics.nfr_startup_s).join('\n') + '\n  spare restores (a rename) at 1 GB and 4 GB and the diff from history: npm run bench:spare\n\n');
    if (full) process.stdout.write(formatFull(full).join('\n') + '\n\n');
    if (offsite) process.stdout.write(formatOffsite(offsite).join('\n') + '\n\n');
    process.stdout.write(resultLine(results) + '\n');
  } finally {
    log(`bench: stopping the cluster and removing ${ws.root}`);
    await ws.dispose();
  }
}

/** First signal: stop the running step and clean up. Second: leave at once. */
function onSignals(controller: AbortController): void {
  const handler = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) {
      log(`bench: ${sig} again; exiting without cleaning up (look for /tmp/nfr-bench-*)`);
      process.exit(130);
    }
    log(`bench: ${sig}; stopping and cleaning up (send it again to exit at once)`);
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

const controller = new AbortController();
onSignals(controller);
runBench(() => run(controller.signal));
