/**
 * The runtime's records, each defined once: RecoveryReport, LockHolder and StageRecord are
 * inferred from these schemas, and the API's response schemas generated from them
 * (server/response-schemas.ts). Imported as types only.
 */
import { z } from 'zod';
import { PIPELINE_STAGES } from './stage.js';

const int = () => z.number().int();
const timestamp = () => z.string().meta({ format: 'date-time' });

export const OPERATION_KINDS = ['create', 'restore', 'undo', 'delete', 'prune', 'verify', 'recover', 'ingest', 'warm', 'cool', 'diff', 'push', 'spare'] as const;
export type OperationKind = (typeof OPERATION_KINDS)[number];

/** Who holds the operation lock: the lock file's content (runtime/lock.ts), as status shows it. */
export const lockHolderSchema = z.object({
  pid: int(),
  host: z.string(),
  operation: z.enum(OPERATION_KINDS),
  snapshot_id: z.string().nullable(),
  database: z.string(),
  started_at: timestamp(),
  /** Backend pid of the session holding the advisory lock. */
  backend_pid: int(),
});

/** The pipeline stage a database records (runtime/stage.ts). */
export const stageRecordSchema = z.object({
  stage: z.enum(PIPELINE_STAGES).meta({ description: 'the last pipeline stage completed on this database' }),
  counts: z.record(z.string(), z.number()).meta({ description: 'row counts recorded when stages completed' }),
  updated_at: timestamp(),
});

/** What recovery repaired before an operation started (nothing, usually): runtime/context.ts RecoveryReport. */
export const recoveryReportSchema = z.object({
  removed_temp_dirs: z.array(z.string()),
  dropped_databases: z.array(z.string()),
  reopened_database: z.boolean(),
  /** Collections of an index server that an unfinished full restore had created, now deleted. */
  dropped_collections: z.array(z.string()),
  /** A full restore killed after its database swap: its index switch was completed. */
  completed_index_switch: z.boolean(),
  /** Part files of uploads a killed server was receiving. */
  removed_upload_parts: z.array(z.string()),
  /** Uploads a killed ingestion left `running`, now `failed`. */
  failed_uploads: z.array(z.string()),
});

