/**
 * `npm run bench:spare` (BENCH_SPARE_SIZES_MB, default "1024,4096"; BENCH_RUNS): instant restores
 * and the diff, the warm rows of issue 23 (`npm run bench:snapshot` points here).
 *
 * At each size, on a cluster of its own:
 * - a warm snapshot's spare restore (a rename) against its clone restore (NFR_WARM_SPARE=false)
 *   and a raw `pg_restore -j2` into a fresh database; for the spare, the time until the command
 *   has printed its result and the whole command until its process exits (the next spare is then
 *   prepared by a detached preparer, off the critical path: its time is reported beside, and
 *   every timed run starts with the spare ready and the lock free);
 * - `nfr snapshot diff` against live after changing 1 % of the controls (versioned, as ingestion
 *   does), from history.
 *
 * The spare restore's whole command must stay under 1 s at every size (flat).
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { serverMajor, toolEnv } from '../../src/postgres/connection.js';
import { findClientTool } from '../../src/postgres/tools.js';
import { runProgram } from '../../src/util/process.js';
import { runBench } from '../main.js';
import { Commands } from './commands.js';
import { buildDataset } from './dataset.js';
import { median } from './report.js';
import { readSettings, type BenchSettings } from './settings.js';
import { Workspace } from './workspace.js';

const NFR_BIN = fileURLToPath(new URL('../../../bin/nfr.js', import.meta.url));
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Run {
  readonly reported_s: number;
  readonly exit_s: number;
  readonly value: any;
}

/** Runs nfr; times when its JSON result was complete on stdout and when the process exited. */
function timedNfr(args: readonly string[], env: Record<string, string | undefined>, cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [NFR_BIN, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let reported: number | undefined;
    let value: unknown;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (reported === undefined) {
        try {
          value = JSON.parse(out);
          reported = (performance.now() - t0) / 1000;
        } catch {
          // not complete yet
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
    child.on('error', reject);
    child.on('close', (code) => {
      const exit = (performance.now() - t0) / 1000;
      if (code !== 0 || reported === undefined) reject(new Error(`nfr ${args.join(' ')} exited ${code}: ${err}`));
      else resolve({ reported_s: reported, exit_s: exit, value });
    });
  });
}

/** Seconds `nfr --version` takes to exit: node's start-up and the CLI's, no database, no disk. */
function versionSeconds(env: Record<string, string | undefined>, cwd: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [NFR_BIN, '--version'], { env, cwd, stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve((performance.now() - t0) / 1000));
  });
}

interface SizeResult {
  readonly size_mib: number;
  readonly controls: number;
  readonly spare_reported_s: number;
  readonly spare_exit_s: number;
  readonly spare_own_ms: number;
  readonly blocked_ms: number;
  readonly next_spare_ready_s: number;
  readonly clone_s: number;
  readonly raw_s: number;
  readonly diff_s: number | null;
  readonly diff_changed: number | null;
  /** The 1-minute load average while the spare restores ran, and while the diffs ran. */
  readonly spare_load: number;
  readonly diff_load: number | null;
  /** `nfr --version`'s whole command at the same moments: the floor of any command under that load. */
  readonly floor_s: number;
}

function sizesMb(env: NodeJS.ProcessEnv = process.env): number[] {
  const raw = env.BENCH_SPARE_SIZES_MB ?? (env.BENCH_SIZE_MB ? env.BENCH_SIZE_MB : '1024,4096');
  const sizes = raw.split(',').map((x) => Number(x.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 10)) throw new Error(`invalid BENCH_SPARE_SIZES_MB=${JSON.stringify(raw)}: expected sizes in MiB, comma-separated (e.g. 1024,4096)`);
  return sizes;
}

async function run(signal: AbortSignal): Promise<void> {
  const settings = readSettings();
  const results: SizeResult[] = [];
  const sizes = sizesMb();
  for (const [i, sizeMb] of sizes.entries()) {
    // The diff row is the 1 GB set's (the first size).
    results.push(await measureSize({ ...settings, sizeMb }, i === 0, signal));
  }
  const load = (await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ');
  const row = (r: SizeResult) =>
    `  ${`${r.size_mib} MiB`.padEnd(9)} ${r.spare_exit_s.toFixed(2).padStart(6)} s ${r.spare_reported_s.toFixed(2).padStart(6)} s ${`${r.spare_own_ms} ms`.padStart(8)} ${`${r.blocked_ms} ms`.padStart(8)} ${r.next_spare_ready_s.toFixed(2).padStart(7)} s ${r.clone_s.toFixed(2).padStart(7)} s ${r.raw_s.toFixed(2).padStart(8)} s ${r.floor_s.toFixed(2).padStart(7)} s ${r.spare_load.toFixed(1).padStart(6)}`;
  const first = results[0] as SizeResult;
  const lines = [
    `spare restores, median of ${settings.runs} (load average at the end: ${load})`,
    '  size      whole   result    nfr own  blocked  next spare   clone  pg_restore -j2  nfr --version  load',
    ...results.map(row),
    first.diff_s === null ? '' : `diff against live on the ${first.size_mib} MiB set after changing 1 % (${first.diff_changed} controls), from history: ${first.diff_s.toFixed(2)} s (load average ${first.diff_load?.toFixed(1)})`,
    'targets:',
    ...results.map((r) => `  ${r.spare_exit_s < 1 ? 'PASS' : 'FAIL'}  spare restore whole command < 1 s at ${r.size_mib} MiB (${r.spare_exit_s.toFixed(2)} s)`),
    results.length > 1 ? `  ${Math.max(...results.map((r) => r.spare_exit_s)) - Math.min(...results.map((r) => r.spare_exit_s)) < 0.25 ? 'PASS' : 'FAIL'}  flat: the sizes within 0.25 s of each other` : '',
    first.diff_s === null ? '' : `  ${first.diff_s < 2 ? 'PASS' : 'FAIL'}  diff from history < 2 s`,
  ].filter(Boolean);
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(`RESULT ${JSON.stringify({ runs: settings.runs, load_average: load, sizes: results })}\n`);
}

async function measureSize(settings: BenchSettings, withDiff: boolean, signal: AbortSignal): Promise<SizeResult> {
  const ws = await Workspace.open(settings);
  try {
    const { major } = await ws.session((c) => serverMajor(c));
    const tools = { pgDump: await findClientTool('pg_dump', major, { pgBinDir: settings.pgBinDir, home: ws.homeDir }), pgRestore: await findClientTool('pg_restore', major, { pgBinDir: settings.pgBinDir, home: ws.homeDir }) };
    log(`bench: building a ${settings.sizeMb} MiB database`);
    const dataset = await buildDataset(ws.live, settings.sizeMb, log, signal);
    const size = await ws.databaseSize();
    log(`bench: ${(size / 1048576).toFixed(0)} MiB, ${dataset.controls} controls`);
    const cmd = new Commands(ws, tools, signal);
    const env = cmd.nfrEnv();
    const nfr = (args: string[], extra: Record<string, string> = {}) => timedNfr([...args, '--json'], { ...env, NFR_WARM_SPARE: 'true', ...extra }, ws.root);
    /** Waits until the spare prepared after `since` is recorded and the lock is free; seconds waited. */
    const spareReady = async (since: string): Promise<{ prepared_at: string; waited_s: number }> => {
      const t0 = performance.now();
      for (;;) {
        signal.throwIfAborted();
        const status = (await nfr(['snapshot', 'status'])).value;
        const spare = status.warm?.[0]?.spare;
        if (spare && spare.prepared_at > since && !status.lock.held) return { prepared_at: spare.prepared_at, waited_s: (performance.now() - t0) / 1000 };
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    };

    const created = await nfr(['snapshot', 'create', '--name', 'golden']);
    const id: string = created.value.id;
    const warmed = await nfr(['snapshot', 'warm', '--id', id]);
    log(`bench: ${id} created in ${created.exit_s.toFixed(1)} s, warmed in ${warmed.exit_s.toFixed(1)} s (spare: ${warmed.value.spare.status})`);
    let since = (await spareReady('')).prepared_at;

    const spare: Run[] = [];
    const clone: Run[] = [];
    const nextReady: number[] = [];
    const floors: number[] = [];
    const loads: number[] = [];
    for (let i = 1; i <= settings.runs; i++) {
      await ws.checkpoint();
      floors.push(await versionSeconds(env, ws.root));
      loads.push(loadavg()[0] ?? 0);
      const s = await nfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup']);
      if (s.value.restored_from !== 'spare') throw new Error(`restore ${i} came from the ${s.value.restored_from}, not the spare`);
      spare.push(s);
      const ready = await spareReady(since);
      since = ready.prepared_at;
      nextReady.push(ready.waited_s);
      log(`  spare restore ${i}: result after ${s.reported_s.toFixed(2)} s (nfr's own ${s.value.duration_ms} ms, blocked ${s.value.blocked_ms} ms), exit after ${s.exit_s.toFixed(2)} s; next spare ready ${ready.waited_s.toFixed(2)} s later`);
      await ws.checkpoint();
      const c = await nfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], { NFR_WARM_SPARE: 'false' });
      if (c.value.restored_from !== 'warm copy') throw new Error(`clone restore ${i} came from the ${c.value.restored_from}`);
      clone.push(c);
      log(`  clone restore ${i}: ${c.exit_s.toFixed(2)} s`);
    }

    // Raw pg_restore -j2 of the same archive into a fresh database.
    await ws.createEmptyDatabase('raw_restore');
    const t0 = performance.now();
    await runProgram(tools.pgRestore, ['--jobs=2', '--no-owner', `--dbname=raw_restore`, path.join(ws.backupsDir, id, 'db')], { env: toolEnv(ws.live), signal, timeoutMs: 3_600_000 });
    const raw = (performance.now() - t0) / 1000;
    await ws.dropDatabase('raw_restore');
    log(`  raw pg_restore -j2: ${raw.toFixed(2)} s`);

    let diff: { s: number; changed: number; load: number } | null = null;
    if (withDiff) {
      // The diff after changing 1 % of the controls, as ingestion changes them (a new version each).
      const changed = await ws.session(async (c) => {
        await c.query('begin');
        const ids = await c.query<{ control_id: string }>('select control_id from src_controls_ver_control where tx_to is null and abs(hashtext(control_id)) % 100 = 0');
        await c.query(`create temp table bench_ids as select control_id from src_controls_ver_control where tx_to is null and abs(hashtext(control_id)) % 100 = 0`);
        await c.query('update src_controls_ver_control v set tx_to = now() from bench_ids b where v.control_id = b.control_id and v.tx_to is null');
        const cols = (await c.query<{ column_name: string }>("select column_name from information_schema.columns where table_name = 'src_controls_ver_control' and column_name not in ('version_id', 'tx_from', 'tx_to', 'title') and is_generated = 'NEVER' order by ordinal_position")).rows.map((r) => `"${r.column_name}"`);
        await c.query(
          `insert into src_controls_ver_control (${cols.join(', ')}, title)
           select distinct on (v.control_id) ${cols.map((x) => `v.${x}`).join(', ')}, v.title || ' (changed)'
             from src_controls_ver_control v join bench_ids b using (control_id) order by v.control_id, v.version_id desc`,
        );
        await c.query('commit');
        return ids.rowCount ?? 0;
      }, ws.live.database);
      const diffs: Run[] = [];
      const diffLoads: number[] = [];
      for (let i = 1; i <= settings.runs; i++) {
        diffLoads.push(loadavg()[0] ?? 0);
        const d = await nfr(['snapshot', 'diff', '--id', id]);
        if (d.value.method !== 'history') throw new Error(`the diff came from ${d.value.method}: ${d.value.method_reason}`);
        if (d.value.summary.controls.reverts !== changed) throw new Error(`the diff found ${d.value.summary.controls.reverts} reverts, ${changed} were changed`);
        diffs.push(d);
        log(`  diff from history: ${d.exit_s.toFixed(2)} s (nfr's own ${d.value.duration_ms} ms), ${changed} controls reverted`);
      }
      diff = { s: median(diffs.map((r) => r.exit_s)), changed, load: median(diffLoads) };
    }

    const m = (runs: Run[], f: (r: Run) => number) => median(runs.map(f));
    return {
      size_mib: Math.round(size / 1048576),
      controls: dataset.controls,
      spare_reported_s: m(spare, (r) => r.reported_s),
      spare_exit_s: m(spare, (r) => r.exit_s),
      spare_own_ms: m(spare, (r) => r.value.duration_ms),
      blocked_ms: m(spare, (r) => r.value.blocked_ms),
      next_spare_ready_s: median(nextReady),
      clone_s: m(clone, (r) => r.exit_s),
      raw_s: raw,
      diff_s: diff?.s ?? null,
      diff_changed: diff?.changed ?? null,
      spare_load: median(loads),
      diff_load: diff?.load ?? null,
      floor_s: median(floors),
    };
  } finally {
    await ws.dispose();
  }
}

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
runBench(() => run(controller.signal));
