/**
 * What recovery repaired, defined once: RecoveryReport is inferred from this schema and the API's
 * response schema generated from it (server/response-schemas.ts). Imported as a type only.
 */
import { z } from 'zod';

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

