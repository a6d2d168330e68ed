/**
 * The snapshot layer's answers, each defined once: the TypeScript types the modules return are
 * inferred from these schemas, and the API's response schemas (and so the OpenAPI document) are
 * generated from them (server/response-schemas.ts). Modules import these as types only, so no
 * command loads zod for them.
 */
import { z } from 'zod';
import { lockHolderSchema } from '../runtime/shapes.js';
import { DIFF_CHANGES, DIFF_ENTITIES, type DiffEntity } from './diff/entities.js';

/** An ISO 8601 timestamp, as every record here writes it. */
const timestamp = () => z.string().meta({ format: 'date-time' });
const int = () => z.number().int();

export const SCHEMA_RELATIONS = ['same', 'older', 'newer'] as const;
const relation = z.enum(SCHEMA_RELATIONS);

export const changeCountsSchema = z.object({ removes: int(), brings_back: int(), reverts: int() });
const entity = z.enum(DIFF_ENTITIES.map((e) => e.entity) as [DiffEntity, ...DiffEntity[]]);

export const tableDiffSchema = z.object({
  schema: z.string(),
  name: z.string(),
  /** Rows in the snapshot (null: the table is not in it). */
  snapshot_rows: int().nullable(),
  /** Rows in the target (null: not there). */
  to_rows: int().nullable(),
  difference: int().meta({ description: 'snapshot_rows − to_rows' }),
});

export const attributeChangeSchema = z.object({
  name: z.string(),
  /** The value in the snapshot (what a restore brings back). */
  snapshot: z.unknown(),
  /** The value now in the target (live or the other snapshot). */
  to: z.unknown(),
});

export const diffItemSchema = z.object({
  entity,
  change: z.enum(DIFF_CHANGES),
  id: z.string(),
  /** For `reverts`: every attribute that differs. */
  attributes: z.array(attributeChangeSchema).optional(),
});

export const DIFF_METHODS = ['history', 'warm', 'scratch'] as const;

/** What restoring a snapshot would change (snapshot/diff/index.ts). */
export const snapshotDiffSchema = z.object({
  snapshot_id: z.string(),
  to: z.string().meta({ description: 'live, or the other snapshot id' }),
  method: z.enum(DIFF_METHODS).meta({ description: 'history: read from the live transaction-time history; warm/scratch: compared with a clone of the warm copy or a scratch restore' }),
  /** Why this method: the history check's outcome, or what the copy was made from. */
  method_reason: z.string(),
  schema: z.object({
    snapshot: z.string().nullable(),
    to: z.string().nullable(),
    code: z.string(),
    relation,
    /** Restoring the snapshot needs --force (its schema is behind the code's; it is migrated). */
    force_required: z.boolean(),
    restorable: z.boolean(),
  }),
  tables: z.array(tableDiffSchema),
  summary: z
    .object(Object.fromEntries(DIFF_ENTITIES.map((e) => [e.entity, changeCountsSchema])) as Record<DiffEntity, typeof changeCountsSchema>)
    .meta({ description: 'per entity (controls, functions, locations, risk_themes, assessment_units): what a restore removes (added since), brings back (closed since) and reverts (changed since)' }),
  changes: z.array(diffItemSchema),
  /** Pass as `cursor` for the next page; null on the last one. */
  next_cursor: z.string().nullable(),
  duration_ms: int(),
});

/** What restoring a snapshot would do (snapshot/restore-plan.ts). */
export const restorePlanSchema = z.object({
  snapshot_id: z.string(),
  name: z.string(),
  kind: z.string(),
  pipeline_stage: z.string().nullable(),
  contains: z.object({ postgres: z.boolean(), vector_index: z.boolean(), ingested_files: z.boolean() }),
  schema: z.object({
    snapshot: z.string().nullable(),
    code: z.string(),
    /** `older`: the snapshot's schema is one this code knows, behind its head; `newer`: unknown to this code. */
    relation,
    force_required: z.boolean(),
    restorable: z.boolean(),
    explanation: z.string(),
  }),
  resync_offered: z.boolean().meta({ description: 'a database-only snapshot leaves the index as it is; resync brings it in line' }),
  replaces_undo: z.boolean().meta({ description: 'the restore replaces the database undo would bring back today' }),
  rows: int(),
  tables: int(),
  total_bytes: int(),
});

export const fileCheckSchema = z.object({ path: z.string(), size: int(), ok: z.boolean(), problem: z.string().nullable() });

/** `nfr snapshot verify` (snapshot/verify.ts). */
export const verifyResultSchema = z.object({
  id: z.string(),
  ok: z.boolean(),
  problems: z.array(z.string()),
  files_checked: int(),
  bytes_checked: int(),
  files: z.array(fileCheckSchema).readonly().meta({ description: 'one entry per file the manifest lists, in manifest order' }),
  deep: z.object({ tables_checked: int(), rows_checked: int() }).optional().meta({ description: 'with deep: the test restore' }),
});

/** Why a snapshot is kept; `unconfirmed`: the policy came to delete it only after the question was asked. */
export const KEEP_REASONS = ['daily', 'weekly', 'monthly', 'pinned', 'pre-deployment', 'unconfirmed'] as const;

export const retentionDecisionSchema = z.object({
  id: z.string(),
  name: z.string(),
  created_at: timestamp(),
  keep: z.boolean(),
  reasons: z.array(z.enum(KEEP_REASONS)),
  bytes: int(),
  verification_failed: z.boolean().meta({ description: 'its last verification failed: it fills no retention slot' }),
});

/** `nfr snapshot prune` (snapshot/retention.ts). */
export const pruneResultSchema = z.object({ dry_run: z.boolean(), deleted: z.array(retentionDecisionSchema), kept: z.array(retentionDecisionSchema), freed_bytes: int() });

/** `nfr snapshot delete` (snapshot/delete.ts). */
export const deleteResultSchema = z.object({
  id: z.string(),
  name: z.string(),
  freed_bytes: int(),
  damaged: z.string().optional().meta({ description: 'why the manifest could not be read, when a damaged snapshot directory was deleted (name is then empty)' }),
});

/** `nfr snapshot cool` (snapshot/warm.ts). */
export const coolResultSchema = z.object({ snapshot_id: z.string(), cooled: z.boolean().meta({ description: 'false when the snapshot was not warm' }), freed_bytes: int() });

/** A warm copy's ready spare: a clone of the copy, row counts checked, renamed into place by a restore. */
export const spareCopySchema = z.object({
  database: z.string(),
  prepared_at: timestamp(),
  size_bytes: int(),
  rows: int(),
  /** The controls' signature (as the vector index records it), read when the spare was made: a restore's report need not scan for it. */
  index_signature: z.string().optional(),
});

/** A warm copy of a snapshot as `.state/warm.<db>.json` records it (snapshot/warm-copies.ts). */
export const warmCopySchema = z.object({
  snapshot_id: z.string(),
  /** The template database on the server. */
  database: z.string(),
  warmed_at: timestamp(),
  /** When a restore last cloned it (the least recently used copy is cooled first). */
  last_restored_at: timestamp().nullable(),
  size_bytes: int(),
  rows: int(),
  spare: spareCopySchema.nullable().optional(),
});

/** A warm copy as the list and a manifest show it. */
export const warmSummarySchema = warmCopySchema
  .pick({ database: true, size_bytes: true, warmed_at: true, last_restored_at: true })
  .nullable()
  .meta({ description: 'the warm copy kept on the server for this snapshot, null when it is cold' });

/** A snapshot as `nfr snapshot list` shows it (snapshot/manifest.ts summarize). */
export const snapshotSummarySchema = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  tags: z.array(z.string()),
  status: z.string(),
  kind: z.enum(['postgres', 'full']),
  created_at: timestamp(),
  completed_at: timestamp(),
  duration_ms: int(),
  database: z.string(),
  schema_version: z.string().nullable(),
  pipeline_stage: z.string().nullable(),
  total_bytes: int(),
  tables: int().meta({ description: 'number of tables' }),
  rows: int().meta({ description: 'rows over all tables' }),
  warm: warmSummarySchema,
});

export const SNAPSHOT_LOCATIONS = ['local', 'offsite', 'both'] as const;

/** The offsite repository a list also read, and why it could not (snapshot/catalog.ts CatalogPlaces). */
export const catalogPlacesSchema = z.object({ repository: z.string(), error: z.string().nullable() });

/** `GET /api/v2/devdata/snapshots` (snapshot/catalog.ts catalogSummaries). */
export const snapshotListSchema = z.object({
  snapshots: z
    .array(snapshotSummarySchema.extend({ location: z.enum(SNAPSHOT_LOCATIONS).meta({ description: "where the snapshot is kept: this server's backup directory, the offsite repository (NFR_S3_REPOSITORY), or both" }) }))
    .meta({ description: 'completed snapshots, newest first' }),
  damaged: z.array(z.object({ id: z.string(), problem: z.string().nullable() })).meta({ description: 'snapshot directories whose manifest cannot be read' }),
  offsite: catalogPlacesSchema.meta({ description: 'the offsite repository the list also read, and why it could not, if it could not' }),
});

const HEALTH_LEVELS = ['healthy', 'warning', 'unhealthy'] as const;
export const HEALTH_CHECK_NAMES = ['latest_snapshot', 'verification', 'failures', 'disk', 'warm_copies', 'pre_restore_backup', 'staging_databases', 'database', 'offsite'] as const;

export const healthCheckSchema = z.object({
  name: z.enum(HEALTH_CHECK_NAMES),
  status: z.enum(HEALTH_LEVELS),
  message: z.string(),
  value: z.unknown().meta({ description: 'what was measured (ages, counts, bytes), null when nothing was' }),
});

/** `GET /api/v2/devdata/snapshots/health` (snapshot/health.ts); 503 answers the same body. */
export const healthReportSchema = z.object({ status: z.enum(HEALTH_LEVELS), checks: z.array(healthCheckSchema) });

export const EVENT_STATUSES = ['completed', 'failed', 'interrupted'] as const;

/** A line of the event log (snapshot/state.ts OperationEvent). */
export const operationEventSchema = z.object({
  at: timestamp(),
  /** An operation kind, or what else the log records (an offsite fetch, an evict). */
  operation: z.string(),
  status: z.enum(EVENT_STATUSES),
  snapshot_id: z.string().optional(),
  duration_ms: int().optional(),
  error: z.string().optional(),
  /** What the operation adds (a restore's blocked_ms, a prune's deleted ids). */
  details: z.record(z.string(), z.unknown()).optional(),
});

/** `GET /api/v2/devdata/snapshots/status` (snapshot/status.ts). */
export const snapshotStatusSchema = z.object({
  database: z.string(),
  backup_path: z.string(),
  lock: z.object({ held: z.boolean(), holder: lockHolderSchema.nullable(), holder_alive: z.boolean().nullable(), stale_lock_file: lockHolderSchema.nullable() }),
  in_progress: z.array(z.string()),
  snapshots: z.object({ count: int(), total_bytes: int(), latest: z.string().nullable() }),
  last_operation: operationEventSchema.nullable().meta({ description: 'the last operation event: kind, snapshot, status, when, error' }),
  /**
   * undo_command is null when a later, failed restore already dropped what undo would bring back;
   * no_undo_reason then says why and what is left (the pre-restore backup, if one was taken).
   */
  last_restore: z
    .looseObject({ database: z.string(), previous_database: z.string(), snapshot_id: z.string(), restored_at: timestamp(), undone: z.boolean(), undo_command: z.string().nullable(), no_undo_reason: z.string().nullable() })
    .nullable()
    .meta({ description: 'the last restore: snapshot, replaced database, whether undo can bring it back (undo_command)' }),
  leftovers: z.array(z.string()).meta({ description: 'what a dead operation left, waiting for recovery (a running server repairs it within seconds)' }),
  /** Free space of the backup volume; `full` when not even the lock file fits (operations fail with DISK_FULL). */
  backup_volume: z.object({ free_bytes: int(), full: z.boolean() }),
  /** Set when the last restore's pre-restore backup did not complete: what is kept instead. */
  backup_missing: z.string().nullable(),
  /** The warm copies of the live database's snapshots. */
  warm: z.array(warmCopySchema),
});
