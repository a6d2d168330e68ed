/**
 * Ingestion's answers, defined once: the types are inferred from these schemas and the API's
 * response schemas generated from them (server/response-schemas.ts). Imported as types only.
 */
import { z } from 'zod';

const timestamp = () => z.string().meta({ format: 'date-time' });
const int = () => z.number().int();

export const UPLOAD_KINDS = ['controls', 'context'] as const;
export const UPLOAD_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;

/** An upload batch as the control database records it (ingest/uploads.ts). */
export const uploadRecordSchema = z.object({
  upload_id: z.string(),
  kind: z.enum(UPLOAD_KINDS),
  original_filename: z.string().nullable(),
  size_bytes: int().nullable(),
  status: z.enum(UPLOAD_STATUSES),
  rows_inserted: int(),
  rows_updated: int(),
  rows_unchanged: int(),
  rows_closed: int(),
  rows_rejected: int(),
  error_count: int(),
  created_at: timestamp(),
  started_at: timestamp().nullable(),
  finished_at: timestamp().nullable(),
});

/** `GET /api/v2/pipelines/uploads`: a page of upload batches, newest first. */
export const uploadListSchema = z.object({ uploads: z.array(uploadRecordSchema), total: int(), limit: int(), offset: int() });
