/**
 * Warm restores: time to warm a snapshot, then each repetition restores it from its warm copy
 * (whole command, as with the cold restore: --skip-backup, the reset-a-test-environment case),
 * once more with the pre-restore backup (dumped after the swap), and undoes; and `cp -a` of the
 * live database's directory under base/, the physical limit of any file-copy restore.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { runProgram } from '../../src/util/process.js';
import type { Commands } from './commands.js';
import type { Log } from './measure.js';
import { median } from './report.js';
import type { Workspace } from './workspace.js';

export interface WarmResults {
  readonly warm_s: number;
  readonly warm_bytes: number;
  readonly restore_s: number[];
  /** nfr's own duration_ms of those restores (without process start-up). */
  readonly restore_reported_ms: number[];
  readonly blocked_ms: number[];
  /** Restores that dumped the pre-restore backup after the swap (whole command). */
  readonly restore_with_backup_s: number[];
  readonly copy_s: number[];
  /** cp -a followed by sync of the copy: a copy as durable as CREATE DATABASE's (which fsyncs). */
  readonly durable_copy_s: number[];
  readonly database_bytes: number;
}

export const WARM_TARGETS = { vs_pg_restore: 10, vs_copy: 2, blocked_ms: 1000 } as const;

export async function measureWarm(ws: Workspace, cmd: Commands, snapshotId: string, runs: number, log: Log): Promise<WarmResults> {
  await ws.checkpoint();
  const warmed = await cmd.nfrWarm(snapshotId);
  log(`  warm: ${warmed.seconds.toFixed(2)} s (${(warmed.value.warm.size_bytes / 1048576).toFixed(0)} MiB template)`);
  const out = { restore_s: [] as number[], restore_reported_ms: [] as number[], blocked_ms: [] as number[], restore_with_backup_s: [] as number[], copy_s: [] as number[], durable_copy_s: [] as number[] };
  for (let i = 1; i <= runs; i++) {
    await ws.checkpoint();
    const restored = await cmd.nfrRestore(snapshotId);
    if (restored.value.restored_from !== 'warm copy') throw new Error(`restore ${i} came from the ${restored.value.restored_from}, not the warm copy`);
    out.restore_s.push(restored.seconds);
    out.restore_reported_ms.push(restored.value.duration_ms);
    out.blocked_ms.push(restored.value.blocked_ms);
    log(`  warm restore ${i}/${runs}: ${restored.seconds.toFixed(2)} s, blocked ${restored.value.blocked_ms} ms`);
    await cmd.nfrUndo();

    await ws.checkpoint();
    const backed = await cmd.nfrRestoreWithBackup(snapshotId);
    out.restore_with_backup_s.push(backed.seconds);
    log(`  warm restore with backup ${i}/${runs}: ${backed.seconds.toFixed(2)} s (backup ${backed.value.pre_restore_backup_id})`);
    await cmd.nfrUndo();
    if (backed.value.pre_restore_backup_id) await cmd.nfrDelete(backed.value.pre_restore_backup_id);

    const copy = await copyDatabaseDir(ws, i);
    out.copy_s.push(copy.copy_s);
    out.durable_copy_s.push(copy.durable_s);
    log(`  cp -a of the database directory ${i}/${runs}: ${copy.copy_s.toFixed(2)} s (with sync ${copy.durable_s.toFixed(2)} s)`);
  }
  await cmd.nfrCool(snapshotId);
  return { warm_s: warmed.seconds, warm_bytes: warmed.value.warm.size_bytes, database_bytes: await ws.databaseSize(), ...out };
}

/**
 * `cp -a base/<oid>` of the live database, after a checkpoint, into the raw directory; then the
 * same followed by `sync` of the copied files, which is what a durable copy costs.
 */
async function copyDatabaseDir(ws: Workspace, run: number): Promise<{ copy_s: number; durable_s: number }> {
  const oid = await ws.session(async (c) => (await c.query<{ oid: string }>('select oid::text from pg_database where datname = $1', [ws.live.database])).rows[0]?.oid);
  if (!oid) throw new Error('the live database has no oid');
  const from = path.join(ws.cluster.dataDir, 'base', oid);
  const timedCopy = async (to: string, durable: boolean) => {
    await ws.checkpoint();
    await runProgram('/bin/sync', []);
    const t0 = performance.now();
    await runProgram('/bin/cp', ['-a', from, to]);
    if (durable) await runProgram('/bin/sync', ['--file-system', to]);
    const seconds = (performance.now() - t0) / 1000;
    await rm(to, { recursive: true, force: true });
    return seconds;
  };
  return { copy_s: await timedCopy(path.join(ws.rawDir, `copy-${run}`), false), durable_s: await timedCopy(path.join(ws.rawDir, `copy-${run}-synced`), true) };
}

export function formatWarm(w: WarmResults, coldRestore: number, rawRestore: number, startup: number): string[] {
  const warm = median(w.restore_s);
  const copy = median(w.copy_s);
  const blocked = median(w.blocked_ms);
  const checks = [
    { name: `warm restore >= ${WARM_TARGETS.vs_pg_restore}x faster than raw pg_restore`, value: `${(rawRestore / warm).toFixed(1)}x`, pass: rawRestore / warm >= WARM_TARGETS.vs_pg_restore },
    { name: `warm restore <= ${WARM_TARGETS.vs_copy}x (cp -a + start-up)`, value: `${(warm / (copy + startup)).toFixed(2)}x`, pass: warm <= WARM_TARGETS.vs_copy * (copy + startup) },
    { name: `warm restore blocked <= ${WARM_TARGETS.blocked_ms / 1000} s`, value: `${blocked} ms`, pass: blocked <= WARM_TARGETS.blocked_ms },
    // For scale, not a target: CREATE DATABASE fsyncs what it copies; plain cp -a does not.
    { name: `(for scale) warm restore vs durable copy (cp -a + sync) + start-up`, value: `${(warm / (median(w.durable_copy_s) + startup)).toFixed(2)}x`, pass: true },
  ];
  return [
    `warm snapshots: ${(w.database_bytes / 1048576).toFixed(0)} MiB database, template ${(w.warm_bytes / 1048576).toFixed(0)} MiB, warmed in ${w.warm_s.toFixed(2)} s`,
    `  warm restore (whole command)         ${warm.toFixed(2)} s   per run ${w.restore_s.map((x) => x.toFixed(2)).join(', ')} (nfr's own duration_ms: ${w.restore_reported_ms.join(', ')})`,
    `  warm restore with pre-restore backup ${median(w.restore_with_backup_s).toFixed(2)} s   per run ${w.restore_with_backup_s.map((x) => x.toFixed(2)).join(', ')}`,
    `  cold restore (pg_restore by nfr)     ${coldRestore.toFixed(2)} s`,
    `  raw pg_restore into a fresh database ${rawRestore.toFixed(2)} s`,
    `  cp -a of the database directory      ${copy.toFixed(2)} s (+ nfr start-up ${startup.toFixed(2)} s); with sync of the copy ${median(w.durable_copy_s).toFixed(2)} s`,
    'targets:',
    ...checks.map((c) => `  ${c.pass ? 'PASS' : 'FAIL'}  ${c.name.padEnd(52)} ${c.value}`),
  ];
}
