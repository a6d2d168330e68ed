/**
 * Step 1, preflight: everything a restore must know before it changes anything — the manifest,
 * whether its schema may be restored, whether the index backend matches, whether this server can
 * read the dump, where the data comes from (warm copy or archive). It only reads.
 */
import { NfrError } from '../../errors.js';
import { serverMajor } from '../../postgres/connection.js';
import { databaseInfo, derivedDatabaseName, type DatabaseInfo } from '../../postgres/databases.js';
import { findClientTool } from '../../postgres/tools.js';
import type { Context } from '../../runtime/context.js';
import type { Operation, ProgressListener } from '../../runtime/operation.js';
import { assertIndexCompatible } from '../full-files.js';
import type { SnapshotId } from '../ids.js';
import type { Manifest } from '../manifest.js';
import { schemaRelation } from '../restore-plan.js';
import { loadSnapshot } from '../verify.js';
import { findManifest } from '../offsite/find.js';
import { usableSpare } from '../spare.js';
import { usableWarmCopy, type SpareCopy, type WarmCopy } from '../warm-copies.js';

export interface RestoreOptions {
  readonly id: SnapshotId;
  readonly skipBackup?: boolean | undefined;
  readonly force?: boolean | undefined;
  readonly jobs?: number | undefined;
  /** Bring the vector index in line with the restored controls, inside the same operation. */
  readonly resync?: boolean | undefined;
  readonly onProgress?: ProgressListener | undefined;
}

/** What preflight found out; every later step reads it, none changes it. */
export interface RestorePlan {
  readonly options: RestoreOptions;
  readonly progress: ProgressListener;
  readonly started: number;
  readonly jobs: number;
  /** The live database's name. */
  readonly live: string;
  /** Its encoding and locale when it exists (undefined: the restore creates it). */
  readonly liveInfo: DatabaseInfo | undefined;
  /** Where the database the restore replaces is kept for undo. */
  readonly previous: string;
  readonly staging: string;
  readonly dir: string;
  readonly manifest: Manifest;
  readonly schema: SchemaCheck;
  /** A full snapshot: the index and ingested files are restored too. */
  readonly full: boolean;
  /** The snapshot's warm copy, when it has a usable one: cloned instead of pg_restore. */
  readonly warm: WarmCopy | undefined;
  /** Its ready spare, when it has one: renamed into place instead of cloned. */
  readonly spare: SpareCopy | undefined;
  readonly pgRestore: string | null;
  /** A pre-restore backup is taken (there is a live database and --skip-backup was not given). */
  readonly takeBackup: boolean;
  /**
   * A full restore's backup must capture the index and files as they are live, so it is taken
   * before the swap; a database-only restore's is dumped from the replaced database after it.
   */
  readonly backupFirst: boolean;
}

export async function preflight(ctx: Context, op: Operation, options: RestoreOptions, started: number): Promise<RestorePlan> {
  const progress = options.onProgress ?? (() => {});
  progress({ phase: 'verifying' });
  const { dir, manifest } = await loadSnapshot(ctx.store, options.id);
  const schema = checkSchema(manifest, options.force === true);
  const full = manifest.kind === 'full';
  if (full) await assertIndexCompatible(ctx.config, manifest.index);
  const { major } = await serverMajor(op.maint);
  if (major !== manifest.database.server_major) {
    throw new NfrError('SCHEMA_MISMATCH', `snapshot ${manifest.id} was dumped from PostgreSQL ${manifest.database.server_major}; this server is ${major}. Restore it with pg_restore ${manifest.database.server_major} by hand, or on a matching server`);
  }
  const live = ctx.target.database;
  const warm = await usableWarmCopy(ctx, op.maint, manifest.id);
  const spare = warm ? await usableSpare(ctx, op.maint, manifest.id) : undefined;
  const pgRestore = warm ? null : await findClientTool('pg_restore', major, ctx.config);
  const liveInfo = await databaseInfo(op.maint, live);
  const takeBackup = liveInfo !== undefined && options.skipBackup !== true;
  return {
    options,
    progress,
    started,
    jobs: options.jobs ?? ctx.config.parallelJobs,
    live,
    liveInfo,
    previous: derivedDatabaseName(live, 'prev'),
    staging: derivedDatabaseName(live, 'staging'),
    dir,
    manifest,
    schema,
    full,
    warm,
    spare,
    pgRestore,
    takeBackup,
    backupFirst: takeBackup && full,
  };
}

/**
 * The checks a restore makes before it changes anything, for callers that want to fail before
 * asking for confirmation: the snapshot exists and its schema version is acceptable.
 */
export async function restorePreflight(ctx: Context, id: SnapshotId, force: boolean): Promise<Manifest> {
  // Wherever it is: a snapshot kept only offsite is fetched by the restore's first step.
  const { manifest } = await findManifest(ctx, id);
  checkSchema(manifest, force);
  return manifest;
}

export interface SchemaCheck {
  /** The code's schema version (its head migration). */
  readonly code: string;
  /** The restored database is migrated to head before it goes live (forced, older schema). */
  readonly migrate: boolean;
}

/**
 * Newer than the code → refuse always; different → refuse unless forced, in which case the
 * restored database is migrated to head before it goes live.
 */
export function checkSchema(manifest: Manifest, force: boolean): SchemaCheck {
  const snap = manifest.database.schema_version;
  const { code, relation } = schemaRelation(snap);
  if (relation === 'same') return { code, migrate: false };
  if (relation === 'newer') {
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
