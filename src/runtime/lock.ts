/**
 * One snapshot operation at a time, across processes and hosts.
 *
 * The truth is a PostgreSQL advisory lock, held by a dedicated session on the maintenance
 * database (not the live one: a restore ends every session of the live database, and must not end
 * its own lock). When the holder dies, the server ends its session and the lock goes with it, so a
 * dead holder never blocks anyone. The lock file `.locks/snapshot_operation.lock` only says who
 * holds it, for `status` and for the message a refused caller sees; it is overwritten by the
 * next holder and never needs to be removed by hand.
 */
import { throwIfCancelled } from './cancel.js';
import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import type { z } from 'zod';
import { NfrError } from '../errors.js';
import { connect } from '../postgres/connection.js';
import { atomicWriteFile } from '../util/fs.js';
import type { Context, SnapshotStore } from './context.js';
import type { lockHolderSchema, OperationKind } from './shapes.js';

/** Advisory-lock namespace for nfr ("NFR" in ASCII); the second key is derived from the database name. */
const LOCK_NAMESPACE = 0x4e4652;

export type { OperationKind } from './shapes.js';

/**
 * A spare preparation (a clone of a warm copy, made in the background after a restore) gives way:
 * an operation that finds the lock held by one waits for it to finish, up to this long, whatever
 * NFR_LOCK_WAIT_SECONDS says; the user did not start it, so it must not make their command fail.
 * Not recovery (a server's periodic pass tries again later) nor another background preparation;
 * a user's own `nfr snapshot spare` does wait (it then finds the spare made).
 */
export const SPARE_GIVES_WAY_SECONDS = 600;

/** Defined once, in runtime/shapes.ts (status's response schema is generated from it). */
export type LockHolder = Readonly<z.infer<typeof lockHolderSchema>>;

export interface OperationLock {
  readonly holder: LockHolder;
  /** Updates what the holder is doing (e.g. the snapshot id once allocated). */
  update(snapshotId: string): Promise<void>;
  release(): Promise<void>;
}

/** Second advisory-lock key: a stable 31-bit hash of the live database name. */
export function lockKey(database: string): number {
  return createHash('sha256').update(`nfr:snapshot:${database}`).digest().readUInt32BE(0) & 0x7fffffff;
}

export function lockFile(store: SnapshotStore): string {
  return path.join(store.locksDir, 'snapshot_operation.lock');
}

export async function readLockFile(store: SnapshotStore): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await readFile(lockFile(store), 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}

/**
 * Takes the operation lock. With `waitSeconds` 0 a held lock fails at once with LOCKED and who
 * holds it; otherwise it waits up to that long.
 */
export async function acquireOperationLock(
  ctx: Context,
  operation: OperationKind,
  snapshotId: string | null,
  waitSeconds = ctx.config.lockWaitSeconds,
  waitsForSpare = operation !== 'spare' && operation !== 'recover',
): Promise<OperationLock> {
  const client = await connect(ctx.maintenance, `nfr lock ${operation}`);
  const key = lockKey(ctx.target.database);
  try {
    const started = Date.now();
    const deadline = started + waitSeconds * 1000;
    let announced = false;
    for (;;) {
      const r = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1, $2) as ok', [LOCK_NAMESPACE, key]);
      if (r.rows[0]?.ok) break;
      // Who holds it is read from its session (`nfr lock <operation>`), not from the lock file.
      // Background work gives way to it only as configured: another spare preparation would find
      // the spare made, and recovery never waits for an operation (its work is not a leftover).
      const sparing = waitsForSpare && (await advisoryHolder(client, ctx.target.database).catch(() => undefined))?.application_name === 'nfr lock spare';
      const until = sparing ? Math.max(deadline, started + SPARE_GIVES_WAY_SECONDS * 1000) : deadline;
      if (Date.now() >= until) throw await lockedError(ctx, client, operation);
      if (!announced) {
        // A wait can be long (a snapshot of a large database): say what is being waited for.
        announced = true;
        const { who } = await describeHolder(ctx, client);
        if (ctx.onLockWait) ctx.onLockWait(who);
        else if (sparing) process.stderr.write(`nfr: ${operation} waits for the spare being prepared in the background (${who}) to finish\n`);
        else process.stderr.write(`nfr: ${operation} waits (up to ${waitSeconds} s) for the operation lock held by ${who}\n`);
      }
      throwIfCancelled(ctx, 'while it waited for the operation lock');
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } catch (err) {
    await client.end().catch(() => {});
    throw err;
  }

  let holder: LockHolder;
  try {
    const backend = await client.query<{ pid: number }>('select pg_backend_pid() as pid');
    holder = {
      pid: process.pid,
      host: hostname(),
      operation,
      snapshot_id: snapshotId,
      database: ctx.target.database,
      started_at: new Date().toISOString(),
      backend_pid: backend.rows[0]?.pid ?? 0,
    };
    await writeLockFile(ctx.store, holder);
  } catch (err) {
    // The lock is ours but nobody holds the handle yet (a full backup volume refuses the lock
    // file): give it back here, or the open session keeps both the lock and the process alive.
    await client.query('select pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, key]).catch(() => {});
    await client.end().catch(() => {});
    throw err;
  }
  let released = false;
  return {
    get holder() {
      return holder;
    },
    async update(id: string) {
      holder = { ...holder, snapshot_id: id };
      await writeLockFile(ctx.store, holder);
    },
    async release() {
      if (released) return;
      released = true;
      try {
        const current = await readLockFile(ctx.store);
        if (current && current.pid === holder.pid && current.host === holder.host && current.started_at === holder.started_at) {
          await rm(lockFile(ctx.store), { force: true });
        }
        await client.query('select pg_advisory_unlock($1, $2)', [LOCK_NAMESPACE, key]);
      } finally {
        await client.end().catch(() => {});
      }
    },
  };
}

/**
 * Writes the informational lock file; call holding the advisory lock. Something else in its
 * place (a directory made by hand, which rename cannot replace) is ours to remove: the file
 * only tells `status` who holds the lock, and it must never need a manual `rm`.
 */
async function writeLockFile(store: SnapshotStore, holder: LockHolder): Promise<void> {
  const text = JSON.stringify(holder, null, 2) + '\n';
  try {
    await atomicWriteFile(lockFile(store), text);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    await rm(lockFile(store), { recursive: true, force: true });
    await atomicWriteFile(lockFile(store), text);
  }
}

/** Runs fn while holding the operation lock, releasing it however fn ends. */
export async function withOperationLock<T>(
  ctx: Context,
  operation: OperationKind,
  snapshotId: string | null,
  fn: (lock: OperationLock) => Promise<T>,
): Promise<T> {
  const lock = await acquireOperationLock(ctx, operation, snapshotId);
  try {
    return await fn(lock);
  } finally {
    await lock.release();
  }
}

export interface LockState {
  readonly held: boolean;
  /** Who holds it, from the lock file (if it matches the live advisory lock holder). */
  readonly holder: LockHolder | null;
  /** A lock file whose holder no longer holds the lock: harmless, replaced by the next operation. */
  readonly stale_file: LockHolder | null;
}

/** Who holds the operation lock right now, read from pg_locks and the lock file. */
export async function lockState(ctx: Context): Promise<LockState> {
  const file = await readLockFile(ctx.store);
  const client = await connect(ctx.maintenance, 'nfr status');
  try {
    const pid = await advisoryHolderPid(client, ctx.target.database);
    if (pid === undefined) return { held: false, holder: null, stale_file: file ?? null };
    return { held: true, holder: file && file.backend_pid === pid ? file : null, stale_file: null };
  } finally {
    await client.end().catch(() => {});
  }
}

/** The session holding the advisory lock, with its application_name (`nfr lock <operation>`). */
async function advisoryHolder(client: pg.ClientBase, database: string): Promise<{ pid: number; application_name: string } | undefined> {
  // Two-int4 advisory locks appear in pg_locks with objsubid = 2, classid = key1, objid = key2.
  const r = await client.query<{ pid: number; application_name: string }>(
    `select l.pid, coalesce(a.application_name, '') as application_name
       from pg_locks l left join pg_stat_activity a on a.pid = l.pid
      where l.locktype = 'advisory' and l.granted and l.objsubid = 2
        and l.classid = $1::int8::oid and l.objid = $2::int8::oid
        and l.database = (select oid from pg_database where datname = current_database())`,
    [LOCK_NAMESPACE, lockKey(database)],
  );
  return r.rows[0];
}

async function advisoryHolderPid(client: pg.ClientBase, database: string): Promise<number | undefined> {
  return (await advisoryHolder(client, database))?.pid;
}

/** Who holds the lock, from the lock file when it belongs to the advisory lock's session. */
async function describeHolder(ctx: Context, client: pg.ClientBase): Promise<{ who: string; holder: LockHolder | undefined }> {
  const file = await readLockFile(ctx.store);
  const pid = await advisoryHolderPid(client, ctx.target.database).catch(() => undefined);
  const holder = file && (pid === undefined || file.backend_pid === pid) ? file : undefined;
  const who = holder
    ? `${holder.operation}${holder.snapshot_id ? ` of ${holder.snapshot_id}` : ''} by pid ${holder.pid} on ${holder.host} since ${holder.started_at}`
    : `another session (backend pid ${pid ?? 'unknown'}) on database server ${ctx.target.host}:${ctx.target.port}`;
  return { who, holder };
}

async function lockedError(ctx: Context, client: pg.ClientBase, operation: OperationKind): Promise<NfrError> {
  const { who, holder } = await describeHolder(ctx, client);
  return new NfrError(
    'LOCKED',
    `cannot ${operation}: another operation is running: ${who}. Wait for it to finish (or set NFR_LOCK_WAIT_SECONDS to wait), and see \`nfr snapshot status\``,
    { details: { holder: holder ?? null } },
  );
}

