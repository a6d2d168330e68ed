/**
 * `npm run bench:spare` (BENCH_SIZE_MB, BENCH_RUNS): instant restores and the diff.
 *
 * - a warm snapshot's spare restore (a rename) against its clone restore (NFR_WARM_SPARE=false)
 *   and a raw `pg_restore -j2` into a fresh database; for the spare, both the time until the
 *   command has printed its result and the whole command (which then prepares the next spare);
 * - `nfr snapshot diff` against live after changing 1 % of the controls (versioned, as ingestion
 *   does), from history.
 *
 * Run it at two sizes (e.g. 1024 and 4096) to see whether the spare restore stays flat.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { serverMajor, toolEnv } from '../../src/postgres/connection.js';
import { findClientTool } from '../../src/postgres/tools.js';
import { runProgram } from '../../src/util/process.js';
import { runBench } from '../main.js';
import { Commands } from './commands.js';
import { buildDataset } from './dataset.js';
import { median } from './report.js';
import { readSettings } from './settings.js';
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

async function run(signal: AbortSignal): Promise<void> {
  const settings = readSettings();
  const ws = await Workspace.open(settings);
  try {
    const { major } = await ws.session((c) => serverMajor(c));
    const tools = { pgDump: await findClientTool('pg_dump', major, settings.pgBinDir), pgRestore: await findClientTool('pg_restore', major, settings.pgBinDir) };
    log(`bench: building a ${settings.sizeMb} MiB database`);
    const dataset = await buildDataset(ws.live, settings.sizeMb, log, signal);
    const size = await ws.databaseSize();
    log(`bench: ${(size / 1048576).toFixed(0)} MiB, ${dataset.controls} controls`);
    const cmd = new Commands(ws, tools, signal);
    const env = cmd.nfrEnv();
    const nfr = (args: string[], extra: Record<string, string> = {}) => timedNfr([...args, '--json'], { ...env, NFR_WARM_SPARE: 'true', ...extra }, ws.root);

    const created = await nfr(['snapshot', 'create', '--name', 'golden']);
    const id: string = created.value.id;
    const warmed = await nfr(['snapshot', 'warm', '--id', id]);
    log(`bench: ${id} created in ${created.exit_s.toFixed(1)} s, warmed in ${warmed.exit_s.toFixed(1)} s (spare: ${warmed.value.spare.status})`);

    const spare: Run[] = [];
    const clone: Run[] = [];
    for (let i = 1; i <= settings.runs; i++) {
      await ws.checkpoint();
      const s = await nfr(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup']);
      if (s.value.restored_from !== 'spare') throw new Error(`restore ${i} came from the ${s.value.restored_from}, not the spare`);
      spare.push(s);
      log(`  spare restore ${i}: result after ${s.reported_s.toFixed(2)} s (nfr's own ${s.value.duration_ms} ms, blocked ${s.value.blocked_ms} ms), exit after ${s.exit_s.toFixed(2)} s (next spare prepared)`);
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
    for (let i = 1; i <= settings.runs; i++) {
      const d = await nfr(['snapshot', 'diff', '--id', id]);
      if (d.value.method !== 'history') throw new Error(`the diff came from ${d.value.method}: ${d.value.method_reason}`);
      if (d.value.summary.controls.reverts !== changed) throw new Error(`the diff found ${d.value.summary.controls.reverts} reverts, ${changed} were changed`);
      diffs.push(d);
      log(`  diff from history: ${d.exit_s.toFixed(2)} s (nfr's own ${d.value.duration_ms} ms), ${changed} controls reverted`);
    }

    const m = (runs: Run[], f: (r: Run) => number) => median(runs.map(f));
    const lines = [
      `spare restores: ${(size / 1048576).toFixed(0)} MiB database, ${dataset.controls} controls, median of ${settings.runs}`,
      `  spare restore, until the result is printed  ${m(spare, (r) => r.reported_s).toFixed(2)} s  (nfr's own ${m(spare, (r) => r.value.duration_ms)} ms, live blocked ${m(spare, (r) => r.value.blocked_ms)} ms)`,
      `  spare restore, whole command (+ next spare)  ${m(spare, (r) => r.exit_s).toFixed(2)} s`,
      `  clone restore (NFR_WARM_SPARE=false)       ${m(clone, (r) => r.exit_s).toFixed(2)} s`,
      `  raw pg_restore -j2                          ${raw.toFixed(2)} s`,
      `  diff against live after changing 1 % (${changed} controls), from history: ${m(diffs, (r) => r.exit_s).toFixed(2)} s (nfr's own ${m(diffs, (r) => r.value.duration_ms)} ms)`,
      'targets:',
      `  ${m(spare, (r) => r.reported_s) < 1 ? 'PASS' : 'FAIL'}  spare restore result < 1 s`,
      `  ${m(spare, (r) => r.exit_s) < 1 ? 'PASS' : 'FAIL'}  spare restore whole command < 1 s`,
      `  ${m(diffs, (r) => r.exit_s) < 2 ? 'PASS' : 'FAIL'}  diff from history < 2 s`,
    ];
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    await ws.dispose();
  }
}

const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
runBench(() => run(controller.signal));
