/**
 * Full snapshots (issue 5): `nfr snapshot create --full` / restore of the database plus an
 * embedded index of BENCH_FULL_CONTROLS current controls (default 100,000), against the sum of raw
 * pg_dump (or pg_restore into a fresh database) and a plain `cp -a` of the index directory.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { clientConfig, escapeIdentifier } from '../../src/postgres/connection.js';
import type { Commands } from './commands.js';
import { median } from './report.js';
import type { Workspace } from './workspace.js';

export interface FullResults {
  readonly indexed_controls: number;
  readonly index_build_s: number;
  readonly create_nfr_s: number[];
  readonly create_raw_s: number[];
  readonly restore_nfr_s: number[];
  readonly restore_raw_s: number[];
  readonly archive_bytes: number;
  readonly create_ratio: number;
  readonly restore_ratio: number;
}

export async function measureFull(ws: Workspace, cmd: Commands, controls: number, runs: number, log: (line: string) => void): Promise<FullResults> {
  // Keep `controls` current controls (the rest become history, as after real re-ingestions).
  const client = new pg.Client(clientConfig(ws.live, 'bench full'));
  await client.connect();
  try {
    await client.query(
      `update src_controls_ver_control set tx_to = now()
        where tx_to is null and control_id not in (select control_id from src_controls_ver_control where tx_to is null order by control_id limit $1)`,
      [controls],
    );
    await client.query('vacuum analyze src_controls_ver_control');
  } finally {
    await client.end();
  }
  log(`bench: nfr index of ${controls} current controls`);
  const index = await cmd.nfrIndex();
  log(`  index: ${index.value.points} points in ${index.seconds.toFixed(2)} s`);
  const indexDir = path.join(ws.homeDir, 'index');

  const createNfr: number[] = [];
  const createRaw: number[] = [];
  const restoreNfr: number[] = [];
  const restoreRaw: number[] = [];
  let archiveBytes = 0;
  for (let i = 1; i <= runs; i++) {
    await checkpoint(ws);
    const nfr = await cmd.nfrCreateFull(`full-${i}`);
    archiveBytes = nfr.value.total_bytes;
    createNfr.push(nfr.seconds);
    const dumpDir = path.join(ws.rawDir, `full-${i}`);
    const copyDir = path.join(ws.rawDir, `full-index-${i}`);
    await checkpoint(ws);
    const dump = await cmd.rawDump(dumpDir);
    const copy = await cmd.rawCopy(indexDir, copyDir);
    createRaw.push(dump.seconds + copy.seconds);
    log(`  full create ${i}/${runs}: nfr ${nfr.seconds.toFixed(2)} s, raw pg_dump + cp ${(dump.seconds + copy.seconds).toFixed(2)} s`);

    await checkpoint(ws);
    const restored = await cmd.nfrRestoreFull(nfr.value.id);
    restoreNfr.push(restored.seconds);
    const fresh = `bench_full_raw_${i}`;
    await admin(ws, `create database ${escapeIdentifier(fresh)} template template0`);
    const copyBack = path.join(ws.rawDir, `full-index-back-${i}`);
    await checkpoint(ws);
    const raw = await cmd.rawRestore(dumpDir, fresh);
    const copied = await cmd.rawCopy(copyDir, copyBack);
    restoreRaw.push(raw.seconds + copied.seconds);
    log(`  full restore ${i}/${runs}: nfr ${restored.seconds.toFixed(2)} s (blocked ${restored.value.blocked_ms} ms), raw pg_restore + cp ${(raw.seconds + copied.seconds).toFixed(2)} s`);
    await admin(ws, `drop database ${escapeIdentifier(fresh)}`);
    await cmd.nfrDelete(nfr.value.id);
    for (const dir of [dumpDir, copyDir, copyBack]) await rm(dir, { recursive: true, force: true });
  }
  return {
    indexed_controls: index.value.points,
    index_build_s: index.seconds,
    create_nfr_s: createNfr,
    create_raw_s: createRaw,
    restore_nfr_s: restoreNfr,
    restore_raw_s: restoreRaw,
    archive_bytes: archiveBytes,
    create_ratio: median(createNfr) / median(createRaw),
    restore_ratio: median(restoreNfr) / median(restoreRaw),
  };
}

/** Each timed step starts from a clean checkpoint, so none pays for another's dirty buffers. */
async function checkpoint(ws: Workspace): Promise<void> {
  await admin(ws, 'checkpoint');
}

async function admin(ws: Workspace, sql: string): Promise<void> {
  const client = new pg.Client(clientConfig(ws.target('postgres'), 'bench full'));
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export function formatFull(r: FullResults): string[] {
  const line = (name: string, nfr: number[], raw: number[], target: number) => {
    const ratio = median(nfr) / median(raw);
    return `${name.padEnd(36)} ${median(nfr).toFixed(2).padStart(7)} s ${median(raw).toFixed(2).padStart(7)} s ${ratio.toFixed(2).padStart(7)}x   ${ratio <= target ? 'PASS' : 'FAIL'} <= ${target}x`;
  };
  return [
    `full snapshots: ${r.indexed_controls} indexed controls (index built in ${r.index_build_s.toFixed(1)} s), archive ${(r.archive_bytes / 1048576).toFixed(0)} MiB`,
    `${'operation'.padEnd(36)} ${'nfr'.padStart(9)} ${'raw sum'.padStart(9)} ${'ratio'.padStart(8)}`,
    line('full create vs pg_dump + cp index', r.create_nfr_s, r.create_raw_s, 1.2),
    line('full restore vs pg_restore + cp index', r.restore_nfr_s, r.restore_raw_s, 1.2),
    `  per run: create nfr ${r.create_nfr_s.map((s) => s.toFixed(2)).join(', ')} | raw ${r.create_raw_s.map((s) => s.toFixed(2)).join(', ')}`,
    `           restore nfr ${r.restore_nfr_s.map((s) => s.toFixed(2)).join(', ')} | raw ${r.restore_raw_s.map((s) => s.toFixed(2)).join(', ')}`,
  ];
}
