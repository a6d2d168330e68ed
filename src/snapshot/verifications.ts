/**
 * Verification results, kept: the last check of every snapshot, whoever ran it (`verify`, the API,
 * a server's background check), in `.state/verify/<id>.json` beside the archives, so they survive
 * restores and every server sees them. A failed check is also written to the event log.
 *
 * Retention never counts a snapshot whose last check failed as a kept one, and health is
 * unhealthy while the newest snapshot's last check failed.
 *
 * Checking checksums only reads a snapshot's files, so it runs without the operation lock and
 * blocks nothing. A snapshot deleted or pruned while it is being read is not reported as broken:
 * a result is kept only if the snapshot is still there afterwards.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { atomicWriteFile, ensureDir, pathExists } from '../util/fs.js';
import { completedSnapshots } from './catalog.js';
import { isSnapshotId, type SnapshotId } from './ids.js';
import { readManifest } from './manifest.js';
import { recordEvent } from './state.js';
import { snapshotDir } from './store.js';
import { loadSnapshot, verifyFiles, type VerifyResult } from './verify.js';
import type { Context, SnapshotStore } from '../runtime/context.js';

export interface VerificationRecord {
  readonly snapshot_id: string;
  readonly ok: boolean;
  readonly checked_at: string;
  /** Who checked: `verify` (CLI or API), `deep-verify`, `background` (a server). */
  readonly by: 'verify' | 'deep-verify' | 'background';
  readonly files_checked: number;
  /** The first problems found (at most 20). */
  readonly problems: string[];
}

const MAX_PROBLEMS = 20;

function recordsDir(store: SnapshotStore): string {
  return path.join(store.stateDir, 'verify');
}

/** The last verification of every snapshot that has one. */
export async function readVerifications(store: SnapshotStore): Promise<Map<string, VerificationRecord>> {
  const out = new Map<string, VerificationRecord>();
  for (const name of await readdir(recordsDir(store)).catch(() => [] as string[])) {
    const id = name.replace(/\.json$/, '');
    if (!name.endsWith('.json') || !isSnapshotId(id)) continue;
    try {
      out.set(id, JSON.parse(await readFile(path.join(recordsDir(store), name), 'utf8')) as VerificationRecord);
    } catch {
      // A record torn by a crash is as good as none: the snapshot is checked again.
    }
  }
  return out;
}

/** Ids of snapshots whose last verification failed. */
export async function failedVerifications(store: SnapshotStore): Promise<Set<string>> {
  return new Set([...(await readVerifications(store)).values()].filter((r) => !r.ok).map((r) => r.snapshot_id));
}

/**
 * Keeps a verification result (and writes a failure to the event log), unless the snapshot was
 * deleted while it was being checked. Returns the record, or undefined when it was not kept.
 */
export async function recordVerification(store: SnapshotStore, result: VerifyResult, by: VerificationRecord['by']): Promise<VerificationRecord | undefined> {
  const dir = snapshotDir(store, result.id as SnapshotId);
  if (!result.ok && !(await stillThere(dir, result.id))) return undefined;
  const record: VerificationRecord = {
    snapshot_id: result.id,
    ok: result.ok,
    checked_at: new Date().toISOString(),
    by,
    files_checked: result.files_checked,
    problems: result.problems.slice(0, MAX_PROBLEMS),
  };
  await ensureDir(recordsDir(store));
  await atomicWriteFile(path.join(recordsDir(store), `${result.id}.json`), JSON.stringify(record, null, 2) + '\n');
  if (!result.ok) {
    await recordEvent(store, {
      operation: 'verify',
      status: 'failed',
      snapshot_id: result.id,
      error: `snapshot ${result.id} failed verification (${by}): ${result.problems.slice(0, 3).join('; ')}${result.problems.length > 3 ? `; and ${result.problems.length - 3} more` : ''}`,
    });
  }
  return record;
}

/** A snapshot deleted while it was checked shows only as missing files: that is not a failure. */
async function stillThere(dir: string, id: string): Promise<boolean> {
  try {
    return (await readManifest(dir)).id === id;
  } catch {
    return false;
  }
}

/** Removes the record of a deleted snapshot. */
export async function forgetVerification(store: SnapshotStore, id: string): Promise<void> {
  await rm(path.join(recordsDir(store), `${id}.json`), { force: true });
}

/** `nfr snapshot verify --id` (checksums): checks the files and keeps the result. */
export async function verifySnapshot(store: SnapshotStore, id: SnapshotId, parallel: number): Promise<VerifyResult> {
  const { dir, manifest } = await loadSnapshot(store, id);
  const result = await verifyFiles(dir, manifest, parallel);
  await recordVerification(store, result, 'verify');
  return result;
}

/**
 * Checks the checksums of every completed snapshot whose last check is older than
 * `intervalSeconds` (or that has none), oldest check first, one at a time on one reader, so a
 * server's background check costs little I/O. Returns what it found.
 */
export async function verifyDueSnapshots(ctx: Context, intervalSeconds: number, now = Date.now(), signal?: AbortSignal): Promise<VerificationRecord[]> {
  const records = await readVerifications(ctx.store);
  const due = (await completedSnapshots(ctx.store))
    .map((m) => ({ id: m.id as SnapshotId, last: records.get(m.id)?.checked_at ?? '' }))
    .filter((s) => s.last === '' || now - Date.parse(s.last) >= intervalSeconds * 1000)
    .sort((a, b) => a.last.localeCompare(b.last));
  const out: VerificationRecord[] = [];
  for (const { id } of due) {
    if (signal?.aborted) break;
    const dir = snapshotDir(ctx.store, id);
    if (!(await pathExists(dir))) continue;
    let result: VerifyResult;
    try {
      const { manifest } = await loadSnapshot(ctx.store, id);
      result = await verifyFiles(dir, manifest, 1);
    } catch (err) {
      // An unreadable manifest is a failed verification too (if the snapshot is still there).
      result = { id, ok: false, problems: [`manifest.json: ${messageOf(err)}`], files_checked: 0, bytes_checked: 0, files: [] };
    }
    const record = await recordVerification(ctx.store, result, 'background');
    if (record) out.push(record);
  }
  return out;
}
