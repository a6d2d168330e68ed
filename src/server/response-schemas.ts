/**
 * Typed responses of the routes, for generated clients and the OpenAPI document. Every one is
 * generated from the zod schema its TypeScript type is inferred from (the `shapes.ts` of each
 * layer; the manifest's from the schema that reads manifests, snapshot/manifest.ts), so the
 * document cannot drift from what the server writes. Every object stays open
 * (additionalProperties): the response serializer drops what a schema does not name, and a field
 * added to a report must never vanish from the answer.
 */
import { responseSchema } from './json-schema.js';
import { controlDetailSchema } from '../controls/shapes.js';
import { indexCheckSchema } from '../index/shapes.js';
import { uploadListSchema } from '../ingest/shapes.js';
import { auditPageSchema } from '../jobs/audit.js';
import { pipelineStatusSchema, recoverResultSchema } from '../pipeline/shapes.js';
import { searchResultSchema } from '../search/shapes.js';
import { manifestFields } from '../snapshot/manifest.js';
import {
  coolResultSchema,
  deleteResultSchema,
  healthReportSchema,
  pruneResultSchema,
  restorePlanSchema,
  snapshotDiffSchema,
  snapshotListSchema,
  snapshotStatusSchema,
  verifyResultSchema,
  warmSummarySchema,
} from '../snapshot/shapes.js';

type Json = Record<string, unknown>;

/** What restoring a snapshot would change (snapshot/diff/index.ts SnapshotDiff). */
export const SNAPSHOT_DIFF = responseSchema(snapshotDiffSchema);

/** A snapshot's manifest.json. */
const MANIFEST: Json = {
  ...responseSchema(manifestFields, 'input'),
  description: 'The snapshot manifest (format nfr-snapshot/1): what it holds, row counts and checksums of every file',
};

/** The manifest as `GET /api/v2/devdata/snapshots/{id}` answers it: with its warm copy. */
export const MANIFEST_WITH_WARM = { ...MANIFEST, properties: { ...(MANIFEST.properties as Json), warm: responseSchema(warmSummarySchema) } };

export const SNAPSHOT_LIST = responseSchema(snapshotListSchema);
export const RESTORE_PLAN = responseSchema(restorePlanSchema);
export const VERIFY_RESULT = responseSchema(verifyResultSchema);
export const PRUNE_RESULT = responseSchema(pruneResultSchema);
export const DELETE_RESULT = responseSchema(deleteResultSchema);
export const COOL_RESULT = responseSchema(coolResultSchema);
/** `GET|POST /api/v2/controls/search`. */
export const SEARCH_RESULT = responseSchema(searchResultSchema);
/** `GET /api/v2/controls/{id}` (controls/detail.ts). */
export const CONTROL_DETAIL = responseSchema(controlDetailSchema);
/** `GET /api/v2/pipelines/uploads` (ingest/uploads.ts). */
export const UPLOAD_LIST = responseSchema(uploadListSchema);
/** `GET /api/v2/pipelines/index/check` (index/check.ts). */
export const INDEX_CHECK = responseSchema(indexCheckSchema);
/** `GET /api/v2/pipelines/status`. */
export const PIPELINE_STATUS = responseSchema(pipelineStatusSchema);
/** `GET /api/v2/devdata/snapshots/status` (snapshot/status.ts). */
export const SNAPSHOT_STATUS = responseSchema(snapshotStatusSchema);
/** `POST /api/v2/devdata/snapshots/recover` (pipeline/recover.ts). */
export const RECOVER_RESULT = responseSchema(recoverResultSchema);
/** `GET /api/v2/devdata/snapshots/health` (snapshot/health.ts); 503 answers the same body. */
export const SNAPSHOT_HEALTH = responseSchema(healthReportSchema);

/** A page of the audit trail (jobs/audit.ts). */
export const AUDIT_LIST = responseSchema(auditPageSchema);
