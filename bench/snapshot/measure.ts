/**
 * The measured sequence. nfr and the raw tool alternate within each repetition, and every timed
 * operation starts right after a CHECKPOINT, so neither side inherits the other's dirty buffers.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Commands } from './commands.js';
import { startProbe, type ProbeResult } from './probe.js';
import type { ToolSpan } from './tool-watch.js';
import type { Workspace } from './workspace.js';

export type Log = (line: string) => void;

export interface CreateRuns {
  readonly nfr_s: number[];
  readonly raw_s: number[];
  /** nfr's own duration_ms from the manifest (excludes process start-up). */
  readonly nfr_reported_ms: number[];
  readonly nfr_spans: (ToolSpan | undefined)[];
  readonly archive_bytes: number;
  /** The last snapshot and dump are kept: the restores read them. */
  readonly snapshotId: string;
  readonly dumpDir: string;
}

export interface RestoreRuns {
  readonly nfr_s: number[];
  readonly raw_s: number[];
  readonly blocked_ms: number[];
  readonly nfr_spans: (ToolSpan | undefined)[];
  readonly undo_s: number[];
  readonly undo_blocked_ms: number[];
}

export interface ProbedRestore {
  readonly restore_s: number;
  readonly blocked_ms: number;
  /** How long before nfr exited the client's longest gap ended (the swap is nfr's last step). */
  readonly gap_ended_before_exit_ms: number;
  readonly probe: ProbeResult;
}

const s = (x: number) => `${x.toFixed(2)} s`;

export async function measureCreate(ws: Workspace, cmd: Commands, runs: number, log: Log): Promise<CreateRuns> {
  const out = { nfr_s: [] as number[], raw_s: [] as number[], nfr_reported_ms: [] as number[], nfr_spans: [] as (ToolSpan | undefined)[] };
  let snapshotId = '';
  let dumpDir = '';
  let archiveBytes = 0;
  for (let i = 1; i <= runs; i++) {
    const last = i === runs;
    await ws.checkpoint();
    const created = await cmd.nfrCreate(`bench-${i}`);
    out.nfr_s.push(created.seconds);
    out.nfr_reported_ms.push(created.value.duration_ms);
    out.nfr_spans.push(created.span);
    archiveBytes = created.value.total_bytes;
    log(`  create ${i}/${runs}: nfr ${s(created.seconds)} (${created.value.id})`);
    if (last) snapshotId = created.value.id;
    else await cmd.nfrDelete(created.value.id);

    await ws.checkpoint();
    const dir = path.join(ws.rawDir, `dump-${i}`);
    const dumped = await cmd.rawDump(dir);
    out.raw_s.push(dumped.seconds);
    log(`  create ${i}/${runs}: pg_dump ${s(dumped.seconds)}`);
    if (last) dumpDir = dir;
    else await rm(dir, { recursive: true, force: true });
  }
  return { ...out, archive_bytes: archiveBytes, snapshotId, dumpDir };
}

/**
 * Each repetition: nfr restore, nfr undo (which puts the original database back, so every restore
 * replaces the same database), then raw pg_restore into a fresh empty database.
 */
export async function measureRestore(ws: Workspace, cmd: Commands, create: CreateRuns, expectedVersions: number, runs: number, log: Log): Promise<RestoreRuns> {
  const out: RestoreRuns = { nfr_s: [], raw_s: [], blocked_ms: [], nfr_spans: [], undo_s: [], undo_blocked_ms: [] };
  for (let i = 1; i <= runs; i++) {
    await ws.checkpoint();
    const restored = await cmd.nfrRestore(create.snapshotId);
    out.nfr_s.push(restored.seconds);
    out.blocked_ms.push(restored.value.blocked_ms);
    out.nfr_spans.push(restored.span);
    log(`  restore ${i}/${runs}: nfr ${s(restored.seconds)}, blocked ${restored.value.blocked_ms} ms`);

    await ws.checkpoint();
    const undone = await cmd.nfrUndo();
    if (!undone.value.undone) throw new Error('nfr snapshot restore --undo reported undone=false: the benchmark expected to undo its own restore');
    out.undo_s.push(undone.seconds);
    out.undo_blocked_ms.push(undone.value.blocked_ms);
    log(`  restore ${i}/${runs}: undo ${s(undone.seconds)}, blocked ${undone.value.blocked_ms} ms`);

    const fresh = `bench_raw_${i}`;
    await ws.createEmptyDatabase(fresh);
    try {
      await ws.checkpoint();
      const raw = await cmd.rawRestore(create.dumpDir, fresh);
      out.raw_s.push(raw.seconds);
      log(`  restore ${i}/${runs}: pg_restore ${s(raw.seconds)}`);
      await assertRestored(ws, fresh, expectedVersions);
    } finally {
      await ws.dropDatabase(fresh);
    }
  }
  return out;
}

/** A raw restore that silently skipped data would flatter it; check the largest table arrived. */
async function assertRestored(ws: Workspace, database: string, expectedVersions: number): Promise<void> {
  const n = await ws.session(async (c) => Number((await c.query<{ n: string }>('select count(*)::text as n from src_controls_ver_control')).rows[0]?.n), database);
  if (n !== expectedVersions) throw new Error(`pg_restore into ${database} produced ${n} control versions, expected ${expectedVersions}`);
}

/**
 * One more nfr restore, untimed for the medians, with the client probe running from a second
 * before it starts until half a second after it ends; then undone so the database is as before.
 */
export async function measureProbedRestore(ws: Workspace, cmd: Commands, snapshotId: string, log: Log): Promise<ProbedRestore> {
  await ws.checkpoint();
  const probe = startProbe(ws.live);
  let restored: Awaited<ReturnType<Commands['nfrRestore']>>;
  let exitedAt: number;
  try {
    await sleep(1000);
    restored = await cmd.nfrRestore(snapshotId);
    exitedAt = performance.now() - probe.startedAt;
    await sleep(500);
  } catch (err) {
    await probe.stop();
    throw err;
  }
  const result = await probe.stop();
  log(`  probed restore: nfr ${s(restored.seconds)}, blocked ${restored.value.blocked_ms} ms, longest client gap ${result.longest_gap_ms} ms`);
  await cmd.nfrUndo();
  return { restore_s: restored.seconds, blocked_ms: restored.value.blocked_ms, gap_ended_before_exit_ms: Math.round(exitedAt - result.longest_gap_end_ms), probe: result };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
