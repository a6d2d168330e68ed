/**
 * `npm run bench:ingest`: `nfr ingest controls --no-enrich` (ingestion with validation and
 * versioning; the model runs are not what is measured) on a generated controls CSV (BENCH_ROWS,
 * default 200,000), on a throwaway cluster (BENCH_DIR, PG_BIN_DIR), against two baselines:
 *
 *   fair baseline   `psql \copy` of the rows the load wrote into the same tables of a second
 *                   database, with the same indexes, constraints and foreign keys, in one
 *                   transaction: what PostgreSQL itself needs to store them (fair-baseline.ts).
 *   plain table     `psql \copy` of the CSV file into a table of text columns without an index,
 *                   for reference.
 *
 * Then the unchanged file again; then memory with large fields: a file whose every description
 * is just under the field limit, and one with 10 MB descriptions (row errors, never buffered),
 * through the CLI and through `nfr serve` (a streamed multipart upload, the server's VmHWM read
 * when ingestion ends; serve.ts). Then `nfr index` of the controls into the embedded index with the
 * local embedder; BENCH_INDEX=0 skips it.
 *
 * Targets: ingestion >= 0.5x the fair baseline, peak RSS <= 256 MiB for every file through the CLI
 * and the server, re-ingest >= 3x faster than the first load. Progress goes to stderr; the report
 * and a final `RESULT {json}` line to stdout. A missed target is a measurement, not a failure:
 * the exit code is non-zero only if something broke.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { z } from 'zod';
import { CONTROL_COLUMNS } from '../../src/ingest/controls-csv.js';
import { clientConfig, serverMajor, toolEnv, type PgTarget } from '../../src/postgres/connection.js';
import { LocalCluster } from '../../src/postgres/cluster.js';
import { migrateToHead } from '../../src/postgres/migrate.js';
import { findClientTool } from '../../src/postgres/tools.js';
import { runProgram } from '../../src/util/process.js';
import { insertReferenceData, writeControlsCsv } from './dataset.js';
import { fairCopyBaseline, tableCounts, tablesFilled } from './fair-baseline.js';
import { runMeasured, type MeasuredRun } from './measure.js';
import { ingestThroughServer, withServer } from './serve.js';
import { MAX_FIELD_CHARS } from '../../src/ingest/csv-options.js';
import { runBench } from '../main.js';

const NFR_BIN = fileURLToPath(new URL('../../../bin/nfr.js', import.meta.url));
const DATABASE = 'bench_ingest';
const FAIR_DATABASE = 'bench_fair';
const TOKEN = 'bench-operator-token-0123456789';
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Durability stays on (as in bench/snapshot); memory is what a server of this size would have. */
const SERVER_SETTINGS = { shared_buffers: '1GB', maintenance_work_mem: '512MB', work_mem: '32MB', max_wal_size: '8GB', checkpoint_timeout: '30min' } as const;

const settingsSchema = z.object({
  BENCH_ROWS: z.string().regex(/^\d+$/, 'an integer from 1000 to 10000000').transform(Number).pipe(z.number().min(1000).max(10_000_000)).optional(),
  BENCH_DIR: z.string().min(1).optional(),
  PG_BIN_DIR: z.string().min(1).optional(),
  BENCH_INDEX: z.enum(['0', '1'], 'expected 0 or 1').optional(),
});

async function session<T>(target: PgTarget, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(clientConfig(target, 'nfr bench'));
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

function urlOf(t: PgTarget): string {
  return `postgresql://${encodeURIComponent(t.user)}:${encodeURIComponent(t.password ?? '')}@${t.host}:${t.port}/${encodeURIComponent(t.database)}`;
}

async function run(): Promise<void> {
  const parsed = settingsSchema.safeParse(process.env);
  if (!parsed.success) throw new Error(`invalid benchmark settings: ${parsed.error.issues.map((i) => `${String(i.path[0])}: expected ${i.message}`).join('; ')}`);
  const rows = parsed.data.BENCH_ROWS ?? 200_000;
  const root = mkdtempSync(path.join(parsed.data.BENCH_DIR ?? tmpdir(), 'nfr-bench-ingest-'));
  chmodSync(root, 0o755);
  const cluster = new LocalCluster({ root: path.join(root, 'pg'), pgBinDir: parsed.data.PG_BIN_DIR, settings: SERVER_SETTINGS });
  try {
    log(`bench: starting a cluster under ${root}`);
    await cluster.start();
    await cluster.ensureDatabase(DATABASE);
    const target = cluster.target(DATABASE);
    await migrateToHead(target);
    await session(target, (c) => insertReferenceData(c));
    const { major, version } = await session(target, (c) => serverMajor(c));
    const psql = await findClientTool('psql', major, { pgBinDir: parsed.data.PG_BIN_DIR, home: root });

    const file = path.join(root, 'controls.csv');
    log(`bench: generating ${rows} controls`);
    const bytes = await writeControlsCsv(file, { rows });
    log(`bench: ${(bytes / 1048576).toFixed(1)} MiB`);

    const home = path.join(root, 'home');
    mkdirSync(home, { mode: 0o700 });
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', DATABASE_URL: urlOf(target), NFR_HOME: home, NFR_MAX_UPLOAD_MB: '100000' };
    const checkpoint = () => session(target, (c) => c.query('checkpoint'));
    const nfr = async (label: string): Promise<MeasuredRun & { result: { controls: { inserted: number; unchanged: number } } }> => {
      await checkpoint();
      const r = await runMeasured(process.execPath, [NFR_BIN, 'ingest', 'controls', file, '--no-enrich', '--json'], { env });
      if (r.code !== 0) throw new Error(`nfr ingest controls (${label}) exited ${r.code}: ${r.stderr}`);
      log(`  ${label}: ${r.seconds.toFixed(2)} s, peak RSS ${(r.peakRssBytes / 1048576).toFixed(0)} MiB`);
      return { ...r, result: JSON.parse(r.stdout) };
    };

    const before = await session(target, (c) => tableCounts(c));
    log('bench: nfr ingest controls (first load)');
    const first = await nfr('first load');
    if (first.result.controls.inserted !== rows) throw new Error(`first load inserted ${first.result.controls.inserted} controls, expected ${rows}`);
    const filled = tablesFilled(before, await session(target, (c) => tableCounts(c)));

    log(`bench: fair baseline, psql \\copy of the same rows into the same tables (${filled.join(', ')})`);
    await cluster.ensureDatabase(FAIR_DATABASE);
    const fairTarget = cluster.target(FAIR_DATABASE);
    await migrateToHead(fairTarget);
    await session(fairTarget, (c) => insertReferenceData(c));
    const fair = await session(target, (from) => session(fairTarget, (into) => fairCopyBaseline(psql, { target, client: from }, { target: fairTarget, client: into }, filled, root)));
    log(`  fair \\copy: ${fair.seconds.toFixed(2)} s for ${fair.tables.map((t) => `${t.rows} ${t.table}`).join(', ')}`);

    log('bench: raw psql \\copy into a plain table');
    await session(target, (c) => c.query(`create table bench_plain (${CONTROL_COLUMNS.map((col) => `${col} text`).join(', ')})`));
    await checkpoint();
    const rawStart = performance.now();
    await runProgram(psql, ['-X', '-v', 'ON_ERROR_STOP=1', '-c', `\\copy bench_plain from '${file.replace(/'/g, "''")}' with (format csv, header true)`], { env: toolEnv(target) });
    const rawSeconds = (performance.now() - rawStart) / 1000;
    const copied = await session(target, async (c) => Number((await c.query<{ n: string }>('select count(*)::text as n from bench_plain')).rows[0]?.n));
    if (copied !== rows) throw new Error(`\\copy loaded ${copied} rows, expected ${rows}`);
    log(`  raw \\copy: ${rawSeconds.toFixed(2)} s`);

    log('bench: nfr ingest controls (same file again)');
    const again = await nfr('re-ingest');
    if (again.result.controls.unchanged !== rows) throw new Error(`re-ingest left ${again.result.controls.unchanged} unchanged, expected ${rows}`);

    log('bench: nfr serve, the same file as a streamed upload (unchanged: the server reads and compares every row)');
    const serveEnv = { ...env, API_TOKENS: `operator:${TOKEN}` };
    const served = await withServer(NFR_BIN, { ...serveEnv, NFR_SHUTDOWN_GRACE_SECONDS: '0' }, (base, pid) => ingestThroughServer(base, pid, TOKEN, file, { untilIngested: true }));
    if (served.job.error) throw new Error(`the upload job ended ${served.status}: ${JSON.stringify(served.job)}`);
    log(`  nfr serve: ingestion ${served.ingestSeconds.toFixed(2)} s, server peak RSS ${(served.ingestPeakRssBytes / 1048576).toFixed(0)} MiB`);

    const large = await largeFields(root, env, serveEnv, checkpoint);

    let index: { seconds: number; peakRssBytes: number; points: number } | null = null;
    if (parsed.data.BENCH_INDEX !== '0') {
      log('bench: nfr index (embedded index, local embedder)');
      await checkpoint();
      const r = await runMeasured(process.execPath, [NFR_BIN, 'index', '--json'], { env });
      if (r.code !== 0) throw new Error(`nfr index exited ${r.code}: ${r.stderr}`);
      const synced = JSON.parse(r.stdout) as { points: number; embedded: number };
      if (synced.points !== rows) throw new Error(`nfr index left ${synced.points} points, expected ${rows}`);
      index = { seconds: r.seconds, peakRssBytes: r.peakRssBytes, points: synced.points };
      log(`  nfr index: ${r.seconds.toFixed(2)} s, ${synced.embedded} vectors computed, peak RSS ${(r.peakRssBytes / 1048576).toFixed(0)} MiB`);
    }

    const results = {
      rows,
      file_bytes: bytes,
      server_version: version,
      nfr_first_s: round(first.seconds),
      nfr_first_rows_per_s: Math.round(rows / first.seconds),
      fair_copy_s: round(fair.seconds),
      fair_copy_tables: fair.tables,
      throughput_ratio: round(fair.seconds / first.seconds),
      plain_copy_s: round(rawSeconds),
      plain_copy_rows_per_s: Math.round(rows / rawSeconds),
      plain_ratio: round(rawSeconds / first.seconds),
      peak_rss_mib: Math.round(Math.max(first.peakRssBytes, again.peakRssBytes) / 1048576),
      serve_ingest_s: round(served.ingestSeconds),
      serve_peak_rss_mib: Math.round(served.ingestPeakRssBytes / 1048576),
      serve_steady_rss_mib: Math.round(served.steadyRssBytes / 1048576),
      large_fields: large,
      reingest_s: round(again.seconds),
      reingest_speedup: round(first.seconds / again.seconds),
      index_s: index ? round(index.seconds) : null,
      index_points_per_s: index ? Math.round(index.points / index.seconds) : null,
      index_peak_rss_mib: index ? Math.round(index.peakRssBytes / 1048576) : null,
      targets: {
        throughput_ratio_min: 0.5, // of the fair baseline
        peak_rss_mib_max: 256,
        reingest_speedup_min: 3,
      },
    };
    const ok = (b: boolean) => (b ? 'met' : 'MISSED');
    process.stdout.write(
      [
        `controls ingestion benchmark: ${rows} rows, ${(bytes / 1048576).toFixed(1)} MiB, PostgreSQL ${version}`,
        `  nfr ingest controls   ${results.nfr_first_s} s  ${results.nfr_first_rows_per_s} rows/s`,
        `  fair psql \\copy       ${results.fair_copy_s} s  (same rows, same tables, indexes and constraints)`,
        `  ratio                 ${results.throughput_ratio}x of the fair \\copy (target >= 0.5: ${ok(results.throughput_ratio >= 0.5)})`,
        `  plain-table \\copy     ${results.plain_copy_s} s  ${results.plain_copy_rows_per_s} rows/s (reference: ${results.plain_ratio}x)`,
        `  peak RSS              ${results.peak_rss_mib} MiB (target <= 256: ${ok(results.peak_rss_mib <= 256)})`,
        `  through nfr serve     ${results.serve_ingest_s} s, server peak RSS ${results.serve_peak_rss_mib} MiB (target <= 256: ${ok(results.serve_peak_rss_mib <= 256)}), steady ${results.serve_steady_rss_mib} MiB`,
        ...large.map((l) => `  ${l.label.padEnd(21)} ${l.rows} rows, ${l.mib} MiB file: CLI ${l.cli_s} s exit ${l.cli_exit} peak ${l.cli_peak_rss_mib} MiB; serve peak ${l.serve_peak_rss_mib} MiB, ${l.serve_outcome} (target <= 256: ${ok(Math.max(l.cli_peak_rss_mib, l.serve_peak_rss_mib) <= 256)})`),
        `  re-ingest unchanged   ${results.reingest_s} s, ${results.reingest_speedup}x faster (target >= 3: ${ok(results.reingest_speedup >= 3)})`,
        index ? `  nfr index             ${results.index_s} s  ${results.index_points_per_s} controls/s, peak RSS ${results.index_peak_rss_mib} MiB (embedded index, local embedder)` : '  nfr index             skipped (BENCH_INDEX=0)',
        '',
        `RESULT ${JSON.stringify(results)}`,
        '',
      ].join('\n'),
    );
  } finally {
    log(`bench: stopping the cluster and removing ${root}`);
    await cluster.stop().catch((err: unknown) => log(`bench: could not stop the cluster: ${(err as Error).message}`));
    rmSync(root, { recursive: true, force: true });
  }
}

interface LargeFieldRun {
  readonly label: string;
  readonly rows: number;
  readonly mib: number;
  readonly cli_s: number;
  readonly cli_exit: number;
  readonly cli_peak_rss_mib: number;
  readonly serve_upload_peak_rss_mib: number;
  readonly serve_peak_rss_mib: number;
  readonly serve_outcome: string;
}

/**
 * Memory with large fields: 1,000 controls whose descriptions are just under MAX_FIELD_CHARS
 * (ingested), and 200 controls of which every tenth has a 10 MB description (row errors: the
 * file is refused, nothing written). Each through the CLI and then the server.
 */
async function largeFields(
  root: string,
  env: Readonly<Record<string, string | undefined>>,
  serveEnv: Readonly<Record<string, string | undefined>>,
  checkpoint: () => Promise<unknown>,
): Promise<LargeFieldRun[]> {
  const cases = [
    { label: 'fields at the limit', rows: 1000, options: { descriptionChars: MAX_FIELD_CHARS - 1000 }, exit: 0, outcome: 'ingested' },
    { label: '10 MB fields', rows: 200, options: { oversize: { every: 10, chars: 10 * 1024 * 1024 } }, exit: 12, outcome: 'failed' },
  ];
  const runs: LargeFieldRun[] = [];
  for (const [i, c] of cases.entries()) {
    const file = path.join(root, `large-${i}.csv`);
    log(`bench: ${c.label}: generating ${c.rows} controls`);
    const bytes = await writeControlsCsv(file, { rows: c.rows, seed: 7 + i, tag: `large${i}`, ...c.options });
    await checkpoint();
    const cli = await runMeasured(process.execPath, [NFR_BIN, 'ingest', 'controls', file, '--no-enrich', '--json'], { env });
    if (cli.code !== c.exit) throw new Error(`nfr ingest controls (${c.label}) exited ${cli.code}, expected ${c.exit}: ${cli.stderr.slice(0, 500)}`);
    // A new tag: the server's run writes new versions instead of finding the CLI's unchanged.
    await writeControlsCsv(file, { rows: c.rows, seed: 7 + i, tag: `served${i}`, ...c.options });
    // Followed until ingestion ends: enriching 1,000 texts of 99,000 characters is minutes of model
    // runs, not what is measured here.
    const served = await withServer(NFR_BIN, { ...serveEnv, NFR_SHUTDOWN_GRACE_SECONDS: '0' }, (base, pid) => ingestThroughServer(base, pid, TOKEN, file, { untilIngested: true }));
    const outcome = served.job.error ? 'failed' : 'ingested';
    if (outcome !== c.outcome) throw new Error(`the upload of ${c.label} was ${outcome}, expected ${c.outcome}: ${JSON.stringify(served.job).slice(0, 500)}`);
    const run = {
      label: c.label,
      rows: c.rows,
      mib: Math.round(bytes / 1048576),
      cli_s: round(cli.seconds),
      cli_exit: cli.code,
      cli_peak_rss_mib: Math.round(cli.peakRssBytes / 1048576),
      serve_upload_peak_rss_mib: Math.round(served.uploadPeakRssBytes / 1048576),
      serve_peak_rss_mib: Math.round(served.ingestPeakRssBytes / 1048576),
      serve_outcome: outcome,
    };
    log(`  CLI ${run.cli_s} s exit ${run.cli_exit}, peak ${run.cli_peak_rss_mib} MiB; serve peak ${run.serve_upload_peak_rss_mib} MiB after the upload, ${run.serve_peak_rss_mib} MiB after ingestion (${run.serve_outcome})`);
    runs.push(run);
  }
  return runs;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

runBench(run);
