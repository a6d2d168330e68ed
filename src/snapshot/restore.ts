/**
 * Restore: verify → schema check → pre-restore backup → pg_restore -j into a staging database →
 * row counts against the manifest → swap. Nothing touches the live database before the swap,
 * and the swap is one transaction, so the live database is never half-restored.
 *
 * The database the restore replaced is kept (as `<live>__nfr_prev`) until the next restore, so
 * `undo` can put it back by rename in about a second whatever its size.
 */
import path from 'node:path';
import type pg from 'pg';
import { NfrError, toNfrError } from '../errors.js';
import { conninfoDbname, connect, serverMajor, toolEnv, withClient, withDatabase, type PgTarget } from '../postgres/connection.js';
import { countRows, createDatabaseLike, databaseExists, databaseInfo, derivedDatabaseName, dropDatabase } from '../postgres/databases.js';
import { codeMigrations, codeSchemaHead, migrateToHead } from '../postgres/migrate.js';
import { findClientTool } from '../postgres/tools.js';
import { mapLimit } from '../util/fs.js';
import { faultPoint } from '../util/fault.js';
import { runProgram } from '../util/process.js';
import { afterRestore, type AfterRestoreReport } from './after-restore.js';
import { assertIndexCompatible, assertPreviousFilesReachable, discardStaged, stageFiles, swapPreviousFiles, swapStagedFiles } from './full-files.js';
import { createSnapshotLocked } from './create.js';
import type { SnapshotId } from './ids.js';
import type { Manifest } from './manifest.js';
import { withOperation, type Operation, type ProgressListener } from './operation.js';
import { readLastRestore, recordEvent, writeLastRestore } from './state.js';
import { DUMP_DIR, type SnapshotContext } from './store.js';
import { swapDatabases } from './swap.js';
import { assertVerified, loadSnapshot } from './verify.js';

export interface RestoreOptions {
  readonly id: SnapshotId;
  readonly skipBackup?: boolean | undefined;
  readonly force?: boolean | undefined;
  readonly jobs?: number | undefined;
  /** Bring the vector index in line with the restored controls, inside the same operation. */
  readonly resync?: boolean | undefined;
  readonly onProgress?: ProgressListener | undefined;
}

export interface RestoreResult {
  readonly snapshot_id: string;
  readonly database: string;
  readonly pre_restore_backup_id: string | null;
  /** Where the replaced database is kept for `restore --undo` (null if there was none). */
  readonly previous_database: string | null;
  readonly schema: { readonly snapshot: string | null; readonly code: string; readonly migrated: string[] };
  readonly pipeline_stage: string | null;
  readonly tables_checked: number;
  readonly rows_restored: number;
  readonly blocked_ms: number;
  readonly sessions_ended: number;
  /** What the restore means for the vector index and the stored files, and how to fix it. */
  readonly after_restore: AfterRestoreReport;
  readonly duration_ms: number;
}

/** Restores a snapshot over the live database. */
export async function restoreSnapshot(ctx: SnapshotContext, options: RestoreOptions): Promise<RestoreResult> {
  return withOperation(ctx, 'restore', options.id, async (op) => {
    const started = Date.now();
    try {
      const result = await restoreLocked(ctx, op, options, started);
      await recordEvent(ctx.store, { operation: 'restore', status: 'completed', snapshot_id: options.id, duration_ms: result.duration_ms, details: { blocked_ms: result.blocked_ms } });
      return result;
    } catch (err) {
      await recordEvent(ctx.store, { operation: 'restore', status: 'failed', snapshot_id: options.id, duration_ms: Date.now() - started, error: (err as Error).message }).catch(() => {});
      throw err;
    }
  });
}

async function restoreLocked(ctx: SnapshotContext, op: Operation, options: RestoreOptions, started: number): Promise<RestoreResult> {
  const progress = options.onProgress ?? (() => {});
  const jobs = options.jobs ?? ctx.config.parallelJobs;
  const live = ctx.target.database;

  progress({ phase: 'verifying' });
  const { dir, manifest } = await loadSnapshot(ctx.store, options.id);
  const schema = checkSchema(manifest, options.force === true);
  const full = manifest.kind === 'full';
  if (full) await assertIndexCompatible(ctx.config, manifest.index);
  const { major } = await serverMajor(op.maint);
  if (major !== manifest.database.server_major) {
    throw new NfrError('SCHEMA_MISMATCH', `snapshot ${manifest.id} was dumped from PostgreSQL ${manifest.database.server_major}; this server is ${major}. Restore it with pg_restore ${manifest.database.server_major} by hand, or on a matching server`);
  }
  const pgRestore = await findClientTool('pg_restore', major, ctx.config.pgBinDir);
  const liveInfo = await databaseInfo(op.maint, live);
  const previous = derivedDatabaseName(live, 'prev');
  // The database the last restore replaced is kept for undo until this restore has a verified
  // snapshot to put in its place; dropping it early also keeps DROP DATABASE's checkpoint away
  // from the swap.
  const dropPrevious = async () => {
    if (!liveInfo) return;
    await dropDatabase(op.maint, previous);
    // Should this restore fail from here on, status must not offer an undo that cannot work.
    const last = await readLastRestore(ctx.store, live);
    if (last && !last.previous_dropped) await writeLastRestore(ctx.store, { ...last, previous_dropped: true });
  };

  const takeBackup = liveInfo !== undefined && options.skipBackup !== true;
  // Checksums are verified before anything is written. Without a backup to take first, the
  // check runs alongside pg_restore into the staging database, which it aborts on a mismatch:
  // staging is never live, so nothing is touched either way, and the hashing costs no time.
  const abort = new AbortController();
  const verifying = assertVerified(dir, manifest, jobs);
  let backupId: string | null = null;
  if (takeBackup) {
    await verifying;
    await dropPrevious();
    progress({ phase: 'backup' });
    const backup = await createSnapshotLocked(ctx, op, {
      name: `pre-restore backup before ${manifest.id}`,
      description: `Automatic backup of "${live}" taken before restoring ${manifest.id}`,
      tags: ['pre-restore'],
      jobs,
      full,
    });
    backupId = backup.id;
    await op.lock.update(manifest.id);
  }
  const verified = takeBackup
    ? Promise.resolve()
    : verifying.then(dropPrevious, (err: unknown) => {
        abort.abort();
        throw err;
      });
  verified.catch(() => {}); // observed below; avoids an unhandled rejection while pg_restore runs

  const staging = derivedDatabaseName(live, 'staging');
  let swapped = false;
  try {
    await dropDatabase(op.maint, staging);
    await createDatabaseLike(op.maint, staging, liveInfo ?? manifest.database);
    const stagingTarget = withDatabase(ctx.target, staging);
    try {
      await restoreArchive(op.maint, pgRestore, stagingTarget, path.join(dir, DUMP_DIR), manifest, jobs, progress, abort.signal);
    } catch (err) {
      await verified; // a checksum failure explains an aborted pg_restore better than the abort
      throw err;
    }
    await verified;
    await faultPoint('restored');
    progress({ phase: 'checking', tables_done: 0, tables_total: manifest.tables.length });
    const rows = await checkRowCounts(stagingTarget, manifest, jobs);
    let migrated: string[] = [];
    if (schema.migrate) {
      progress({ phase: 'migrating' });
      migrated = await migrateToHead(stagingTarget);
    }

    // The index and ingested files of a full snapshot are copied next to their live
    // directories (a Qdrant index: uploaded into a new collection) now, and put in place by
    // rename (Qdrant: one alias switch) right after the database swap.
    const staged = full ? await stageFiles(ctx, dir, manifest) : null;
    await faultPoint('files-staged');

    progress({ phase: 'swapping' });
    await faultPoint('before-swap');
    const swap = await swapDatabases(op.maint, ctx.store, { live, incoming: staging, outgoing: previous });
    swapped = true;
    try {
      if (staged) await swapStagedFiles(ctx, staged);
    } finally {
      // The database swap happened whatever the files did: undo must know about it.
      if (liveInfo) {
        await writeLastRestore(ctx.store, { database: live, previous_database: previous, snapshot_id: manifest.id, restored_at: new Date().toISOString(), undone: false, files: staged !== null });
      }
    }
    await faultPoint('swapped');
    progress({ phase: options.resync ? 'resyncing' : 'reporting' });
    const after = await withClient(ctx.target, (client) => afterRestore(ctx.config, client, manifest, options.resync === true), 'nfr restore report').catch((err: unknown) => {
      const e = toNfrError(err);
      throw new NfrError(e.code, `${manifest.id} was restored, but ${options.resync ? 'the index resync' : 'the post-restore report'} failed: ${e.message}`, { cause: err });
    });
    progress({ phase: 'completed', tables_done: manifest.tables.length, tables_total: manifest.tables.length });
    return {
      snapshot_id: manifest.id,
      database: live,
      pre_restore_backup_id: backupId,
      previous_database: liveInfo ? previous : null,
      schema: { snapshot: manifest.database.schema_version, code: schema.code, migrated },
      pipeline_stage: manifest.database.pipeline_stage,
      tables_checked: manifest.tables.length,
      rows_restored: rows,
      blocked_ms: swap.blocked_ms,
      sessions_ended: swap.sessions_ended,
      after_restore: after,
      duration_ms: Date.now() - started,
    };
  } finally {
    if (!swapped) {
      await discardStaged(ctx).catch(() => {});
      abort.abort();
      await verified.catch(() => {});
      await dropDatabase(op.maint, staging).catch(() => {});
    }
  }
}

/**
 * The checks a restore makes before it changes anything, for callers that want to fail before
 * asking for confirmation: the snapshot exists and its schema version is acceptable.
 */
export async function restorePreflight(ctx: SnapshotContext, id: SnapshotId, force: boolean): Promise<Manifest> {
  const { manifest } = await loadSnapshot(ctx.store, id);
  checkSchema(manifest, force);
  return manifest;
}

/**
 * Newer than the code → refuse always; different → refuse unless forced, in which case the
 * restored database is migrated to head before it goes live.
 */
function checkSchema(manifest: Manifest, force: boolean): { code: string; migrate: boolean } {
  const code = codeSchemaHead();
  const snap = manifest.database.schema_version;
  if (snap === code) return { code, migrate: false };
  if (snap !== null && !codeMigrations().includes(snap)) {
    throw new NfrError('SCHEMA_MISMATCH', `snapshot ${manifest.id} has schema version ${snap}, which this version of nfr does not know (its head is ${code}); restore it with a newer nfr`);
  }
  if (!force) {
    throw new NfrError(
      'SCHEMA_MISMATCH',
      `snapshot ${manifest.id} has schema version ${snap ?? '(none)'} but this code is at ${code}. ` +
        'Re-run with --force to restore it and migrate the restored database to the current schema',
    );
  }
  return { code, migrate: true };
}

/** pg_restore -j into an empty database, reporting tables done. */
export async function restoreArchive(
  maint: pg.ClientBase,
  pgRestore: string,
  target: PgTarget,
  archive: string,
  manifest: Manifest,
  jobs: number,
  progress: ProgressListener,
  signal?: AbortSignal,
): Promise<void> {
  const superuser = await maint.query<{ rolsuper: boolean }>('select rolsuper from pg_roles where rolname = current_user');
  // Without superuser, ownership and grants of the original roles cannot be reproduced; objects
  // then belong to the restoring role, which is what a non-superuser owner had anyway.
  const ownership = superuser.rows[0]?.rolsuper ? [] : ['--no-owner', '--no-privileges'];
  const total = manifest.tables.length;
  const done = new Set<string>();
  let bytes = 0;
  const report = () => progress({ phase: 'restoring', tables_done: Math.min(done.size, total), tables_total: total, bytes });
  report();
  await faultPoint('restoring');
  // Bytes restored so far, from the staging database's size (maint is idle while pg_restore runs).
  const poll = setInterval(() => {
    maint.query<{ size: string }>('select pg_database_size($1)::text as size', [target.database]).then(
      (r) => {
        bytes = Number(r.rows[0]?.size ?? bytes);
        report();
      },
      () => {},
    );
  }, 500);
  try {
    await runProgram(
      pgRestore,
      ['--format=directory', `--jobs=${jobs}`, '--exit-on-error', '--verbose', ...ownership, `--dbname=${conninfoDbname(target.database)}`, archive],
      {
        env: toolEnv(target),
        signal,
        onStderrLine: (line) => {
          const m = /finished item \d+ TABLE DATA (.+)$|processing data for table "([^"]+)"/.exec(line);
          const table = m?.[1] ?? m?.[2];
          if (table && !done.has(table)) {
            done.add(table);
            report();
          }
        },
      },
    );
  } finally {
    clearInterval(poll);
  }
}

/** Every table's row count must equal the manifest's; returns the total rows. */
export async function checkRowCounts(target: PgTarget, manifest: Manifest, jobs: number): Promise<number> {
  const clients = await Promise.all(Array.from({ length: Math.max(1, Math.min(jobs, manifest.tables.length)) }, () => connect(target, 'nfr restore check')));
  try {
    const free = [...clients];
    const mismatches: string[] = [];
    const counts = await mapLimit(manifest.tables, clients.length, async (table) => {
      const client = free.pop() as pg.Client;
      try {
        const rows = await countRows(client, table);
        if (rows !== table.rows) mismatches.push(`${table.schema}.${table.name}: ${rows} rows restored, manifest says ${table.rows}`);
        return rows;
      } finally {
        free.push(client);
      }
    });
    if (mismatches.length > 0) {
      throw new NfrError('VERIFY_FAILED', `restored data does not match snapshot ${manifest.id}; the live database was not touched:\n  ${mismatches.join('\n  ')}`);
    }
    return counts.reduce((a, b) => a + b, 0);
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => {})));
  }
}

export interface UndoResult {
  readonly database: string;
  /** The snapshot whose restore was undone (or redone, when undo is repeated). */
  readonly snapshot_id: string;
  /** True when the database now holds the state from before that restore. */
  readonly undone: boolean;
  readonly blocked_ms: number;
  readonly sessions_ended: number;
}

/**
 * Puts back the database the last restore replaced, by rename. Repeating it swaps again, so an
 * undo can itself be undone.
 */
export async function undoLastRestore(ctx: SnapshotContext): Promise<UndoResult> {
  return withOperation(ctx, 'undo', null, async (op) => {
    const live = ctx.target.database;
    const last = await readLastRestore(ctx.store, live);
    if (!last) throw new NfrError('NOT_FOUND', `there is no restore of "${live}" to undo`);
    if (!(await databaseExists(op.maint, last.previous_database))) {
      throw new NfrError('NOT_FOUND', `the database replaced by the restore of ${last.snapshot_id} ("${last.previous_database}") no longer exists; restore a snapshot instead (the pre-restore backup is tagged pre-restore)`);
    }
    const started = Date.now();
    if (last.files) await assertPreviousFilesReachable(ctx);
    const swap = await swapDatabases(op.maint, ctx.store, { live, incoming: last.previous_database, outgoing: last.previous_database });
    if (last.files) await swapPreviousFiles(ctx);
    const undone = !last.undone;
    await writeLastRestore(ctx.store, { ...last, undone, restored_at: new Date().toISOString() });
    await recordEvent(ctx.store, { operation: 'undo', status: 'completed', snapshot_id: last.snapshot_id, duration_ms: Date.now() - started, details: { blocked_ms: swap.blocked_ms, undone } });
    return { database: live, snapshot_id: last.snapshot_id, undone, blocked_ms: swap.blocked_ms, sessions_ended: swap.sessions_ended };
  });
}
