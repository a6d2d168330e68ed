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
 * The creates are measured in rounds, each running the three with raw pg_dump in the middle (nfr,
 * raw, node, then node, raw, nfr, alternating), so each nfr run has a raw run right beside it,
 * before it in one round and after it in the next. Every create starts from the same state,
 * outside the timed region: every earlier output (raw dump, snapshots) removed, `sync` (dirty
 * pages written back, so no run pays for the one before), and a CHECKPOINT. The ratio reported is
 * the median of the per-round ratios (nfr / raw of the same round: a slow minute slows both),
 * beside the ratio of the medians. nfr's step timings (NFR_DEBUG_TIMING) give, per run, pg_dump's
 * own time inside nfr and what nfr (and npx) add outside it.
 *
 * Same pg_dump work on both sides: nfr runs `pg_dump --format=directory --jobs=2 --compress=1`
 * as the raw run does, plus `--snapshot` (the exported snapshot its row counts read), `--verbose`
 * (its progress) and `--no-sync`: nfr makes the files durable itself, fsyncing each as it hashes
 * it during the dump, where raw pg_dump fsyncs its output after the dump (inside its timed run);
 * both end with the archive on disk.
 *
 * BENCH_CLI_RUNS (start-up runs, default 15), BENCH_RUNS (create rounds, default 9), BENCH_SIZE_MB
 * (database size, default 1024), BENCH_CLI_CREATE=0 skips the database part, BENCH_CLI_STDERR=1
 * prints every run's stderr, with nfr's step timings for the creates. A missed target is a
 * measurement, not a failure: the report and a final `RESULT {json}` line go to stdout.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverMajor, toolEnv } from '../../src/postgres/connection.js';
import { findClientTool } from '../../src/postgres/tools.js';
import { isSnapshotId } from '../../src/snapshot/ids.js';
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

interface Timed {
  readonly seconds: number;
  /** The run's stderr (its last 64 KiB). */
  readonly stderr: string;
}

/** Spawn to exit, in seconds; a non-zero exit fails the benchmark with the program's stderr. */
function timeOnce(v: Variant): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(v.command, v.args, { cwd: v.cwd ?? REPO, env: (v.env ?? process.env) as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-65536)));
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      if (process.env.BENCH_CLI_STDERR) process.stderr.write(`--- ${v.name} ${seconds.toFixed(2)} s\n${stderr}\n`);
      if (code === 0) resolve({ seconds, stderr });
      else reject(new Error(`${v.name} exited with ${code}: ${stderr.slice(-4000)}`));
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
      const { seconds: s } = await timeOnce(v);
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

/** One create through nfr: its time, and where pg_dump ran in it (from NFR_DEBUG_TIMING). */
interface NfrRun {
  readonly seconds: number;
  /** pg_dump's own time inside nfr: from its spawn to its exit. */
  readonly pg_dump_s: number | null;
  /** Everything else: npx (for the npx variant), node, nfr's steps before and after pg_dump. */
  readonly outside_s: number | null;
}

/** pg_dump's time inside an nfr run, from the `create: pg_dump started`/`exited` timing lines. */
function nfrRun(seconds: number, stderr: string): NfrRun {
  const at = (step: string) => {
    const m = new RegExp(`nfr: timing +([\\d.]+) ms create: ${step}\n`).exec(stderr);
    return m?.[1] === undefined ? null : Number(m[1]) / 1000;
  };
  const started = at('pg_dump started');
  const exited = at('pg_dump exited');
  const dump = started === null || exited === null ? null : exited - started;
  return { seconds, pg_dump_s: dump, outside_s: dump === null ? null : seconds - dump };
}

interface Round {
  readonly raw_s: number;
  readonly npx: NfrRun;
  readonly node: NfrRun;
  /** Load average (1 min) when the round began. */
  readonly load: number;
}

interface CreateResult {
  readonly size_bytes: number;
  readonly rounds: readonly Round[];
  readonly raw_pg_dump_s: number;
  readonly npx_nfr_create_s: number;
  /** Median of the per-round ratios npx nfr / raw: the deciding number. */
  readonly ratio: number;
  /** The ratio of the medians, for comparison. */
  readonly ratio_of_medians: number;
  readonly pass: boolean;
  /** `node bin/nfr.js snapshot create`: the same without npx. */
  readonly node_nfr_create_s: number;
  readonly node_ratio: number;
  readonly node_ratio_of_medians: number;
  /** Medians of pg_dump's own time inside nfr, and of what nfr (and npx) add outside it. */
  readonly npx_pg_dump_s: number;
  readonly npx_outside_s: number;
  readonly node_pg_dump_s: number;
  readonly node_outside_s: number;
}

/** Runs a program without a shell to its end (e.g. `sync`); fails on a non-zero exit. */
function runQuietly(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited with ${code}`))));
  });
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
      // Step timings, for pg_dump's own time inside nfr (a few lines on stderr).
      NFR_DEBUG_TIMING: '1',
    };
    /**
     * The same start for every create, untimed: no earlier output on disk (the raw dump, every
     * snapshot: each run writes into an empty store), nothing dirty left to write back (`sync`),
     * and the server's dirty buffers flushed (CHECKPOINT).
     */
    const sameStart = async () => {
      rmSync(rawDir, { recursive: true, force: true });
      for (const name of readdirSync(ws.backupsDir)) if (isSnapshotId(name)) rmSync(path.join(ws.backupsDir, name), { recursive: true, force: true });
      await runQuietly('sync', []);
      await ws.checkpoint();
    };
    const variants = {
      raw: { name: 'raw', command: pgDump, args: ['--format=directory', '--jobs=2', '--compress=1', '-f', rawDir, ws.live.database], env: toolEnv(ws.live) as Record<string, string | undefined> },
      // As the README runs it: npx from the repository.
      npx: { name: 'npx nfr', command: 'npx', args: ['nfr', 'snapshot', 'create', '--name', 'bench-cli', '--json'], env: nfrEnv, cwd: REPO },
      // The package's executable itself: what nfr adds, without npx's own start-up.
      node: { name: 'node nfr', command: process.execPath, args: [NFR_BIN, 'snapshot', 'create', '--name', 'bench-cli', '--json'], env: nfrEnv, cwd: REPO },
    } satisfies Record<string, Variant>;
    const rounds: Round[] = [];
    for (let i = 0; i < runs; i++) {
      // raw in the middle: beside each nfr variant in every round, before it in one, after it in the next.
      const order = i % 2 === 0 ? (['npx', 'raw', 'node'] as const) : (['node', 'raw', 'npx'] as const);
      const load = loadavg()[0] ?? 0;
      const got: Partial<Record<'raw' | 'npx' | 'node', Timed>> = {};
      for (const key of order) {
        await sameStart();
        got[key] = await timeOnce(variants[key]);
      }
      const round: Round = { raw_s: got.raw?.seconds ?? Number.NaN, npx: nfrRun(got.npx?.seconds ?? Number.NaN, got.npx?.stderr ?? ''), node: nfrRun(got.node?.seconds ?? Number.NaN, got.node?.stderr ?? ''), load };
      rounds.push(round);
      const dumpInside = (r: NfrRun) => (r.pg_dump_s === null ? '' : ` (pg_dump ${r.pg_dump_s.toFixed(2)} s + ${(r.outside_s ?? 0).toFixed(2)} s)`);
      log(
        `bench:cli: round ${i + 1}/${runs} (${order.join(', ')}; load ${load.toFixed(1)}): raw ${round.raw_s.toFixed(2)} s, npx nfr ${round.npx.seconds.toFixed(2)} s${dumpInside(round.npx)} = ${(round.npx.seconds / round.raw_s).toFixed(3)}×, node nfr ${round.node.seconds.toFixed(2)} s${dumpInside(round.node)} = ${(round.node.seconds / round.raw_s).toFixed(3)}×`,
      );
    }
    const raw = median(rounds.map((r) => r.raw_s));
    const npx = median(rounds.map((r) => r.npx.seconds));
    const node = median(rounds.map((r) => r.node.seconds));
    const ratio = median(rounds.map((r) => r.npx.seconds / r.raw_s));
    const known = (xs: readonly (number | null)[]) => median(xs.filter((x): x is number => x !== null));
    return {
      result: {
        size_bytes: dataset.size_bytes,
        rounds,
        raw_pg_dump_s: raw,
        npx_nfr_create_s: npx,
        ratio,
        ratio_of_medians: npx / raw,
        pass: ratio <= CREATE_TARGET_RATIO,
        node_nfr_create_s: node,
        node_ratio: median(rounds.map((r) => r.node.seconds / r.raw_s)),
        node_ratio_of_medians: node / raw,
        npx_pg_dump_s: known(rounds.map((r) => r.npx.pg_dump_s)),
        npx_outside_s: known(rounds.map((r) => r.npx.outside_s)),
        node_pg_dump_s: known(rounds.map((r) => r.node.pg_dump_s)),
        node_outside_s: known(rounds.map((r) => r.node.outside_s)),
      },
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
  const createRuns = intFromEnv('BENCH_RUNS', 9);

  let create: Awaited<ReturnType<typeof measureCreate>> | undefined;
  if (process.env.BENCH_CLI_CREATE !== '0') create = await measureCreate(createRuns);
  const scratch = mkdtempSync(path.join(tmpdir(), 'nfr-bench-cli-'));
  try {
    // `snapshot list` reads the snapshots the create runs left (or an empty store).
    const backups = create?.backupsDir ?? path.join(scratch, 'backups');
    mkdirSync(backups, { recursive: true });
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', POSTGRES_BACKUP_PATH: backups, NFR_HOME: path.join(scratch, 'home') };
    // When the start-up runs begin, not when the benchmark did (the creates take minutes).
    const load = loadavg()[0] ?? 0;
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
        `snapshot create of a ${(c.size_bytes / 1024 / 1024).toFixed(0)} MiB database (${createRuns} rounds, -j2 -Z1; load average ${Math.min(...c.rounds.map((r) => r.load)).toFixed(1)}-${Math.max(...c.rounds.map((r) => r.load)).toFixed(1)}):`,
        `  raw pg_dump -Fd                  median ${c.raw_pg_dump_s.toFixed(3)} s (${Math.min(...c.rounds.map((r) => r.raw_s)).toFixed(2)}-${Math.max(...c.rounds.map((r) => r.raw_s)).toFixed(2)})`,
        `  npx nfr snapshot create          median ${c.npx_nfr_create_s.toFixed(3)} s   ${c.ratio.toFixed(3)}× median of the rounds' ratios (target ≤ ${CREATE_TARGET_RATIO}×)   ${c.pass ? 'PASS' : 'FAIL'}; ratio of medians ${c.ratio_of_medians.toFixed(3)}×`,
        `    pg_dump inside it ${c.npx_pg_dump_s.toFixed(3)} s, npx and nfr outside it ${c.npx_outside_s.toFixed(3)} s`,
        `  node bin/nfr.js snapshot create  median ${c.node_nfr_create_s.toFixed(3)} s   ${c.node_ratio.toFixed(3)}× (without npx); ratio of medians ${c.node_ratio_of_medians.toFixed(3)}×`,
        `    pg_dump inside it ${c.node_pg_dump_s.toFixed(3)} s, nfr outside it ${c.node_outside_s.toFixed(3)} s`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\nRESULT ${JSON.stringify({ load_average: load, startup, create: create?.result ?? null })}\n`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    await create?.dispose();
  }
}

runBench(run);
