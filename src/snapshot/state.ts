/**
 * Durable bookkeeping under `.state/`, outside the database so it survives restores: the id
 * sequence (ids are never reused), the event log (what `health` reports as failures), and the
 * record of the last restore that `restore --undo` reverses.
 */
import { appendFile, copyFile, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { atomicWriteFile } from '../util/fs.js';
import { NfrError } from '../errors.js';
import { formatSnapshotId, isSnapshotId, splitSnapshotId, type SnapshotId } from './ids.js';
import type pg from 'pg';
import type { z } from 'zod';
import type { operationEventSchema } from './shapes.js';
import { connect, transaction } from '../postgres/connection.js';
import type { Context, SnapshotStore } from '../runtime/context.js';
import { lockKey } from '../runtime/lock.js';
import { openControlDatabase } from '../jobs/control-db.js';
import { offsiteRepository } from './offsite/repository.js';

/**
 * A state file, undefined when there is none. Written atomically, so one that is not JSON was
 * changed by hand or damaged: that is named (file, what to do), where a bare JSON.parse message
 * stopped status, health and every restore with exit 1 and no file named.
 */
async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    throw new NfrError('VERIFY_FAILED', `state file ${file} is not valid JSON (${(err as Error).message}): it was changed by hand or damaged; move it out of ${path.dirname(file)} to go on without what it records`, { details: { file } });
  }
}

/**
 * Allocates the next snapshot id. Call only while holding the operation lock. The sequence
 * file is advanced before the id is used, and existing directories (completed, in progress
 * or being deleted) are taken into account, so an id is never handed out twice.
 */
export async function allocateSnapshotId(store: SnapshotStore, now = new Date(), taken: Iterable<string> = []): Promise<SnapshotId> {
  const year = now.getUTCFullYear();
  const file = path.join(store.stateDir, 'sequence.json');
  const seq = await readSequence(store, file);
  let last = seq[String(year)] ?? 0;
  for (const id of taken) {
    if (!isSnapshotId(id)) continue;
    const { year: y, n } = splitSnapshotId(id);
    if (y === year && n > last) last = n;
  }
  for (const dir of [store.root, store.tmpDir, store.trashDir]) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      const id = name.slice(0, name.indexOf('@') === -1 ? undefined : name.indexOf('@'));
      if (!isSnapshotId(id)) continue;
      const { year: y, n } = splitSnapshotId(id);
      if (y === year && n > last) last = n;
    }
  }
  const next = last + 1;
  await atomicWriteFile(file, JSON.stringify({ ...seq, [String(year)]: next }, null, 2) + '\n');
  return formatSnapshotId(year, next);
}

/**
 * The sequence file: `{"<year>": <last number>}`. One damaged by hand (not JSON, or a number that
 * is no count) used to stop every create with a bare JSON or schema error. It is rebuilt instead
 * from every id the repository still knows besides the directories the caller scans: the event
 * log (creates and deletes name their snapshot), so a deleted snapshot's id is still not reused.
 * The damaged file is kept beside it for inspection.
 */
async function readSequence(store: SnapshotStore, file: string): Promise<Record<string, number>> {
  let raw: unknown;
  try {
    raw = await readJson<unknown>(file);
  } catch (err) {
    if (!(err instanceof NfrError && err.code === 'VERIFY_FAILED')) throw err;
    raw = null;
  }
  if (raw === undefined) return {};
  const valid = typeof raw === 'object' && raw !== null && !Array.isArray(raw) && Object.entries(raw).every(([y, n]) => /^\d{4}$/.test(y) && Number.isSafeInteger(n) && (n as number) >= 0);
  if (valid) return raw as Record<string, number>;
  await copyFile(file, `${file}.damaged`);
  const rebuilt: Record<string, number> = {};
  for (const event of await readEvents(store, Number.MAX_SAFE_INTEGER)) {
    const id = event.snapshot_id;
    if (typeof id !== 'string' || !isSnapshotId(id)) continue;
    const { year, n } = splitSnapshotId(id);
    rebuilt[String(year)] = Math.max(rebuilt[String(year)] ?? 0, n);
  }
  return rebuilt;
}

/** Without an offsite repository every server shares the backup directory and its sequence file. */
async function reserveInDirectory(ctx: Context, maint?: pg.ClientBase): Promise<SnapshotId> {
  const client = maint ?? (await connect(ctx.maintenance, 'nfr id'));
  try {
    return await transaction(client, async () => {
      await client.query('select pg_advisory_xact_lock($1, $2)', [ID_LOCK_NAMESPACE, lockKey(ctx.target.database)]);
      return allocateSnapshotId(ctx.store);
    });
  } finally {
    if (!maint) await (client as pg.Client).end().catch(() => {});
  }
}

/** Namespace of the short lock that serialises snapshot id allocation (the operation lock's is 0x4e4652). */
const ID_LOCK_NAMESPACE = 0x4e4653;

/**
 * Reserves the next snapshot id. Ids are handed out under their own short transaction-scoped
 * advisory lock, not the operation lock, so the API can answer a create request with its
 * snapshot id at once while the create itself still waits its turn.
 *
 * With an offsite repository, servers need not share a backup directory, so the directory's
 * sequence file is not enough: the sequence lives in the control database (shared by every
 * server of this database), and each allocation is seeded from the highest id on local disk and
 * in the bucket, so servers sharing one bucket never hand out the same id.
 */
export async function reserveSnapshotId(ctx: Context, maint?: pg.ClientBase): Promise<SnapshotId> {
  const repo = offsiteRepository(ctx.config);
  if (!repo.configured) return reserveInDirectory(ctx, maint);
  // Ids in the bucket only seed the sequence; one that cannot be listed now is still in the
  // control database's sequence if a server of this database made it.
  const offsite = await repo.ids().catch(() => new Set<string>());
  const control = await openControlDatabase(ctx);
  const client = await connect(control, 'nfr id');
  try {
    return await transaction(client, async () => {
      const year = new Date().getUTCFullYear();
      await client.query('select pg_advisory_xact_lock($1, $2)', [ID_LOCK_NAMESPACE, lockKey(ctx.target.database)]);
      const row = await client.query<{ last: number }>('select last from nfr_snapshot_sequence where year = $1', [year]);
      const shared = row.rows[0] ? [formatSnapshotId(year, row.rows[0].last)] : [];
      const id = await allocateSnapshotId(ctx.store, new Date(), [...offsite, ...shared]);
      await client.query('insert into nfr_snapshot_sequence (year, last) values ($1, $2) on conflict (year) do update set last = excluded.last', [year, splitSnapshotId(id).n]);
      return id;
    });
  } finally {
    await client.end().catch(() => {});
  }
}

/** Defined once, in snapshot/shapes.ts (status's response schema is generated from it). */
export type OperationEvent = Readonly<z.infer<typeof operationEventSchema>>;
export type EventStatus = OperationEvent['status'];

const EVENTS_FILE = 'events.jsonl';
const EVENTS_KEEP = 2000;

/** Appends one line to the event log (a single O_APPEND write). */
export async function recordEvent(store: SnapshotStore, event: Omit<OperationEvent, 'at'>): Promise<void> {
  const line = JSON.stringify({ at: new Date().toISOString(), ...event }) + '\n';
  await appendFile(path.join(store.stateDir, EVENTS_FILE), line, { mode: 0o600 });
}

/** The most recent events, newest last. Trims the log when it grows past its bound. */
export async function readEvents(store: SnapshotStore, limit = 200): Promise<OperationEvent[]> {
  const file = path.join(store.stateDir, EVENTS_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const lines = text.split('\n').filter(Boolean);
  const events: OperationEvent[] = [];
  for (const line of lines.slice(-limit)) {
    try {
      events.push(JSON.parse(line) as OperationEvent);
    } catch {
      // A line torn by a crash mid-append is skipped; the rest of the log is still good.
    }
  }
  return events;
}

/** Keeps the event log bounded; call while holding the operation lock. */
export async function trimEvents(store: SnapshotStore): Promise<void> {
  const file = path.join(store.stateDir, EVENTS_FILE);
  const text = await readFile(file, 'utf8').catch(() => '');
  const lines = text.split('\n').filter(Boolean);
  if (lines.length > EVENTS_KEEP * 1.5) await atomicWriteFile(file, lines.slice(-EVENTS_KEEP).join('\n') + '\n');
}

/** What the last restore of a database replaced, so `restore --undo` can swap it back. */
export interface LastRestore {
  readonly database: string;
  /** Name of the database holding the state before the last restore (or undo). */
  readonly previous_database: string;
  readonly snapshot_id: string;
  readonly restored_at: string;
  readonly undone: boolean;
  /** A full restore also replaced the index and DATA_INGESTED_PATH (kept as <dir>.nfr-prev). */
  readonly files?: boolean;
  /** A later restore dropped previous_database and then failed: there is nothing to undo to. */
  readonly previous_dropped?: boolean;
  /**
   * The pre-restore backup of previous_database, when it is dumped after the swap: pending until
   * it completes; pending or failed means previous_database is the only copy of that state.
   */
  readonly backup?: { readonly status: 'pending' | 'completed' | 'failed'; readonly snapshot_id?: string; readonly error?: string };
}

function lastRestoreFile(store: SnapshotStore, database: string): string {
  return path.join(store.stateDir, `last-restore.${encodeURIComponent(database)}.json`);
}

export async function readLastRestore(store: SnapshotStore, database: string): Promise<LastRestore | undefined> {
  return readJson<LastRestore>(lastRestoreFile(store, database));
}

export async function writeLastRestore(store: SnapshotStore, value: LastRestore): Promise<void> {
  await atomicWriteFile(lastRestoreFile(store, value.database), JSON.stringify(value, null, 2) + '\n');
}

/** A swap in flight: written before live connections are blocked, removed once the swap commits. */
export interface SwapJournal {
  readonly database: string;
  readonly incoming: string;
  readonly outgoing: string;
  readonly started_at: string;
  readonly pid: number;
}

function journalFile(store: SnapshotStore): string {
  return path.join(store.stateDir, 'swap-journal.json');
}

export async function readSwapJournal(store: SnapshotStore): Promise<SwapJournal | undefined> {
  return readJson<SwapJournal>(journalFile(store));
}

export async function writeSwapJournal(store: SnapshotStore, value: SwapJournal): Promise<void> {
  await atomicWriteFile(journalFile(store), JSON.stringify(value, null, 2) + '\n');
}

export async function clearSwapJournal(store: SnapshotStore): Promise<void> {
  await rm(journalFile(store), { force: true });
}
