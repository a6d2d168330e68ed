/**
 * `npm run bench:cli`: what a command costs before it starts working, and what the CLI adds to a
 * snapshot. Every variant is run as a user runs it, timed from spawn to exit, the variants
 * interleaved run by run (so a burst of load hits them alike) and the median reported:
 *
 * - start-up: `node -e 0` against `node bin/nfr.js --help`, `nfr snapshot list` (and `npx nfr
 *   --help`, for information); target: within 0.25 s of `node -e 0`; `nfr --version` through
 *   npx and through the executable, which tells npx's own cost;
 * - snapshot create: `npx nfr snapshot create` against raw `pg_dump -Fd -j2 -Z1` on the snapshot
 *   benchmark's database (bench/snapshot); target: within 1.10×; and `node bin/nfr.js snapshot
 *   create`, the same without npx.
 *
 * BENCH_CLI_RUNS (start-up runs, default 15), BENCH_RUNS (create runs, default 3), BENCH_SIZE_MB
 * (database size, default 1024), BENCH_CLI_CREATE=0 skips the database part, BENCH_CLI_STDERR=1
 * prints every run's stderr, with nfr's step timings (NFR_DEBUG_TIMING) for the creates. A missed target is a
 * measurement, not a failure: the report and a final `RESULT {json}` line go to stdout.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverMajor, toolEnv } from '../../src/postgres/connection.js';
import { findClientTool } from '../../src/postgres/tools.js';
import { runBench } from '../main.js';
import { buildDataset } from '../snapshot/dataset.js';
import { median } from '../snapshot/report.js';
import { readSettings } from '../snapshot/settings.js';
import { Workspace } from '../snapshot/workspace.js';

const REPO = fileURLToPath(new URL('../../..', import.meta.url));
const NFR_BIN = path.join(REPO, 'bin', 'nfr.js');
const STARTUP_TARGET_S = 0.25;
const CREATE_TARGET_RATIO = 1.1;

const log = (line: string) => process.stderr.write(`${line}\n`);

interface Variant {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string | undefined>;
  readonly cwd?: string;
  /** Called before each timed run, untimed (e.g. removing the previous run's output). */
  readonly before?: () => void | Promise<void>;
}

/** Spawn to exit, in seconds; a non-zero exit fails the benchmark with the program's stderr. */
function timeOnce(v: Variant): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(v.command, v.args, { cwd: v.cwd ?? REPO, env: (v.env ?? process.env) as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (process.env.BENCH_CLI_STDERR) process.stderr.write(`--- ${v.name} ${seconds.toFixed(2)} s\n${stderr}\n`);
      if (code === 0) resolve(seconds);
      else reject(new Error(`${v.name} exited with ${code}: ${stderr}`));
    });
  });
}

/**
 * Runs the variants round-robin `runs` times, starting each round one variant later, so that no
 * variant always runs right after the same one (what a run leaves behind — dirty pages, a warm
 * cache — then falls on every variant alike); returns each one's times.
 */
async function interleaved(variants: readonly Variant[], runs: number): Promise<Map<string, number[]>> {
  const times = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (let i = 0; i < runs; i++) {
    const round: string[] = [];
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(i + k) % variants.length] as Variant;
      await v.before?.();
      const s = await timeOnce(v);
      times.get(v.name)?.push(s);
      round.push(`${v.name} ${s.toFixed(2)} s`);
    }
    log(`bench:cli: run ${i + 1}/${runs}: ${round.join(', ')}`);
  }
  return times;
}

function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`${name}=${JSON.stringify(raw)}: expected an integer from 1 to 1000`);
  return n;
}

interface CreateResult {
  readonly size_bytes: number;
  readonly raw_pg_dump_s: number;
  readonly npx_nfr_create_s: number;
  readonly ratio: number;
  readonly pass: boolean;
  /** `node bin/nfr.js snapshot create`: the same without npx. */
  readonly node_nfr_create_s: number;
  readonly node_ratio: number;
}

async function measureCreate(runs: number): Promise<{ result: CreateResult; backupsDir: string; dispose: () => Promise<void> }> {
  const settings = { ...readSettings(), jobs: 2, compression: 1 };
  log(`bench:cli: starting a cluster under ${settings.parentDir}`);
  const ws = await Workspace.open(settings);
  try {
    const { major } = await ws.session((c) => serverMajor(c));
    const pgDump = await findClientTool('pg_dump', major, { pgBinDir: settings.pgBinDir, home: ws.homeDir });
    log(`bench:cli: building a ${settings.sizeMb} MiB database`);
    const dataset = await buildDataset(ws.live, settings.sizeMb, log);
    const rawDir = path.join(ws.rawDir, 'dump');
    const nfrEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: 'C.UTF-8',
      DATABASE_URL: ws.url(),
      POSTGRES_BACKUP_PATH: ws.backupsDir,
      NFR_HOME: ws.homeDir,
      POSTGRES_BACKUP_PARALLEL_JOBS: '2',
      POSTGRES_BACKUP_COMPRESSION: '1',
      NFR_LOCK_WAIT_SECONDS: '0',
      PG_BIN_DIR: settings.pgBinDir,
      NFR_DEBUG_TIMING: process.env.BENCH_CLI_STDERR ? '1' : undefined,
    };
    const times = await interleaved(
      [
        {
          name: 'raw',
          command: pgDump,
          args: ['--format=directory', '--jobs=2', '--compress=1', '-f', rawDir, ws.live.database],
          env: toolEnv(ws.live) as Record<string, string | undefined>,
          before: async () => {
            rmSync(rawDir, { recursive: true, force: true });
            await ws.checkpoint();
          },
        },
        // As the README runs it: npx from the repository.
        { name: 'nfr', command: 'npx', args: ['nfr', 'snapshot', 'create', '--name', 'bench-cli', '--json'], env: nfrEnv, before: () => ws.checkpoint(), cwd: REPO },
        // The package's executable itself: what nfr adds, without npx's own start-up.
        { name: 'node', command: process.execPath, args: [NFR_BIN, 'snapshot', 'create', '--name', 'bench-cli', '--json'], env: nfrEnv, before: () => ws.checkpoint(), cwd: REPO },
      ],
      runs,
    );
    const raw = median(times.get('raw') ?? []);
    const nfr = median(times.get('nfr') ?? []);
    const node = median(times.get('node') ?? []);
    return {
      result: { size_bytes: dataset.size_bytes, raw_pg_dump_s: raw, npx_nfr_create_s: nfr, ratio: nfr / raw, pass: nfr / raw <= CREATE_TARGET_RATIO, node_nfr_create_s: node, node_ratio: node / raw },
      backupsDir: ws.backupsDir,
      dispose: () => ws.dispose(),
    };
  } catch (err) {
    await ws.dispose();
    throw err;
  }
}

async function run(): Promise<void> {
  const startupRuns = intFromEnv('BENCH_CLI_RUNS', 15);
  const createRuns = intFromEnv('BENCH_RUNS', 3);
  const load = loadavg()[0] ?? 0;

  let create: Awaited<ReturnType<typeof measureCreate>> | undefined;
  if (process.env.BENCH_CLI_CREATE !== '0') create = await measureCreate(createRuns);
  const scratch = mkdtempSync(path.join(tmpdir(), 'nfr-bench-cli-'));
  try {
    // `snapshot list` reads the snapshots the create runs left (or an empty store).
    const backups = create?.backupsDir ?? path.join(scratch, 'backups');
    mkdirSync(backups, { recursive: true });
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', POSTGRES_BACKUP_PATH: backups, NFR_HOME: path.join(scratch, 'home') };
    log(`bench:cli: start-up, ${startupRuns} run(s) each`);
    const times = await interleaved(
      [
        { name: 'node -e 0', command: process.execPath, args: ['-e', '0'], env, cwd: scratch },
        { name: 'nfr --help', command: process.execPath, args: [NFR_BIN, '--help'], env, cwd: scratch },
        { name: 'nfr snapshot list', command: process.execPath, args: [NFR_BIN, 'snapshot', 'list', '--json'], env, cwd: scratch },
        { name: 'npx nfr --help', command: 'npx', args: ['nfr', '--help'], env, cwd: REPO },
        // npx's own cost: the same command through npx and through the executable.
        { name: 'nfr --version', command: process.execPath, args: [NFR_BIN, '--version'], env, cwd: scratch },
        { name: 'npx nfr --version', command: 'npx', args: ['nfr', '--version'], env, cwd: REPO },
      ],
      startupRuns,
    );
    const base = median(times.get('node -e 0') ?? []);
    const startup = [...times].map(([name, xs]) => {
      const m = median(xs);
      const over = m - base;
      const targeted = name === 'nfr --help' || name === 'nfr snapshot list';
      return { name, median_s: m, over_node_s: over, target: targeted ? `≤ node + ${STARTUP_TARGET_S} s` : null, pass: targeted ? over <= STARTUP_TARGET_S : null };
    });

    const lines = [
      `CLI start-up (median of ${startupRuns}, load average ${load.toFixed(1)} at start):`,
      ...startup.map((s) => `  ${s.name.padEnd(20)} ${s.median_s.toFixed(3)} s   ${s.name === 'node -e 0' ? '' : `+${s.over_node_s.toFixed(3)} s over node`}${s.pass === null ? '' : s.pass ? '   PASS' : '   FAIL'}`),
    ];
    if (create) {
      const c = create.result;
      lines.push(
        `snapshot create of a ${(c.size_bytes / 1024 / 1024).toFixed(0)} MiB database (median of ${createRuns}, -j2 -Z1):`,
        `  raw pg_dump -Fd       ${c.raw_pg_dump_s.toFixed(3)} s`,
        `  npx nfr snapshot create ${c.npx_nfr_create_s.toFixed(3)} s   ${c.ratio.toFixed(2)}× (target ≤ ${CREATE_TARGET_RATIO}×)   ${c.pass ? 'PASS' : 'FAIL'}`,
        `  node bin/nfr.js snapshot create ${c.node_nfr_create_s.toFixed(3)} s   ${c.node_ratio.toFixed(2)}× (without npx)`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\nRESULT ${JSON.stringify({ load_average: load, startup, create: create?.result ?? null })}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await create?.dispose();
  }
}

runBench(run);
