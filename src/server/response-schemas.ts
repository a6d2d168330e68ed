/**
 * Typed responses of the snapshot routes, for generated clients and the OpenAPI document. The
 * manifest's schema is generated from the zod schema that reads manifests (snapshot/manifest.ts),
 * so the document cannot drift from what the server writes; the reports mirror their TypeScript
 * interfaces. Every object stays open (additionalProperties): the response serializer drops what a
 * schema does not name, and a field added to a report must never vanish from the answer.
 */
import { z } from 'zod';
import { auditEntrySchema } from '../jobs/audit.js';
import { manifestFields } from '../snapshot/manifest.js';

type Json = Record<string, unknown>;

/**
 * Marks every object schema inside `schema` open, unless it says otherwise. Also drops what zod's
 * OpenAPI 3.0 output has that the response serializer's draft-7 check refuses (boolean
 * exclusiveMinimum) or that only states JavaScript's limits (±2^53-1 bounds).
 */
function open<T>(schema: T): T {
  if (Array.isArray(schema)) return schema.map(open) as T;
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Json = {};
  for (const [k, v] of Object.entries(schema as Json)) {
    if ((k === 'exclusiveMinimum' || k === 'exclusiveMaximum') && typeof v === 'boolean') continue;
    if ((k === 'minimum' || k === 'maximum') && Math.abs(v as number) === Number.MAX_SAFE_INTEGER) continue;
    out[k] = k === 'properties' ? Object.fromEntries(Object.entries(v as Json).map(([p, s]) => [p, open(s)])) : open(v);
  }
  if (out.type === 'object' && out.additionalProperties === undefined) out.additionalProperties = true;
  return out as T;
}

const nullable = (type: string, extra: Json = {}) => ({ type, nullable: true, ...extra });

const CHANGE_COUNTS = { type: 'object', properties: { removes: { type: 'integer' }, brings_back: { type: 'integer' }, reverts: { type: 'integer' } } };

/** What restoring a snapshot would change (snapshot/diff/index.ts SnapshotDiff). */
export const SNAPSHOT_DIFF = open({
  type: 'object',
  required: ['snapshot_id', 'to', 'method', 'schema', 'tables', 'summary', 'changes', 'next_cursor'],
  properties: {
    snapshot_id: { type: 'string' },
    to: { type: 'string', description: 'live, or the other snapshot id' },
    method: { type: 'string', enum: ['history', 'warm', 'scratch'], description: 'history: read from the live transaction-time history; warm/scratch: compared with a clone of the warm copy or a scratch restore' },
    method_reason: { type: 'string' },
    schema: {
      type: 'object',
      properties: { snapshot: nullable('string'), to: nullable('string'), code: { type: 'string' }, relation: { type: 'string', enum: ['same', 'older', 'newer'] }, force_required: { type: 'boolean' }, restorable: { type: 'boolean' } },
    },
    tables: {
      type: 'array',
      items: { type: 'object', properties: { schema: { type: 'string' }, name: { type: 'string' }, snapshot_rows: nullable('integer'), to_rows: nullable('integer'), difference: { type: 'integer', description: 'snapshot_rows − to_rows' } } },
    },
    summary: {
      type: 'object',
      description: 'per entity (controls, functions, locations, risk_themes, assessment_units): what a restore removes (added since), brings back (closed since) and reverts (changed since)',
      properties: { controls: CHANGE_COUNTS, functions: CHANGE_COUNTS, locations: CHANGE_COUNTS, risk_themes: CHANGE_COUNTS, assessment_units: CHANGE_COUNTS },
    },
    changes: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          entity: { type: 'string' },
          change: { type: 'string', enum: ['removes', 'brings_back', 'reverts'] },
          id: { type: 'string' },
          attributes: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' }, snapshot: {}, to: {} } } },
        },
      },
    },
    next_cursor: nullable('string'),
    duration_ms: { type: 'integer' },
  },
});

const WARM = {
  ...nullable('object'),
  description: 'the warm copy kept on the server for this snapshot, null when it is cold',
  properties: { database: { type: 'string' }, size_bytes: { type: 'integer' }, warmed_at: { type: 'string', format: 'date-time' }, last_restored_at: nullable('string', { format: 'date-time' }) },
};

/** A snapshot's manifest.json. */
const MANIFEST: Json = open({
  ...(z.toJSONSchema(manifestFields, { io: 'input', target: 'openapi-3.0', unrepresentable: 'any' }) as Json),
  description: 'The snapshot manifest (format nfr-snapshot/1): what it holds, row counts and checksums of every file',
});

/** The manifest as `GET /api/v2/devdata/snapshots/{id}` answers it: with its warm copy. */
export const MANIFEST_WITH_WARM = { ...MANIFEST, properties: { ...(MANIFEST.properties as Json), warm: WARM } };

const SUMMARY = open({
  type: 'object',
  required: ['id', 'name', 'kind', 'created_at', 'total_bytes', 'tables', 'rows'],
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    description: nullable('string'),
    tags: { type: 'array', items: { type: 'string' } },
    status: { type: 'string' },
    kind: { type: 'string', enum: ['postgres', 'full'] },
    created_at: { type: 'string', format: 'date-time' },
    completed_at: { type: 'string', format: 'date-time' },
    duration_ms: { type: 'integer' },
    database: { type: 'string' },
    schema_version: nullable('string'),
    pipeline_stage: nullable('string'),
    total_bytes: { type: 'integer' },
    tables: { type: 'integer', description: 'number of tables' },
    rows: { type: 'integer', description: 'rows over all tables' },
    warm: WARM,
    location: { type: 'string', enum: ['local', 'offsite', 'both'], description: "where the snapshot is kept: this server's backup directory, the offsite repository (NFR_S3_REPOSITORY), or both" },
  },
});

export const SNAPSHOT_LIST = open({
  type: 'object',
  required: ['snapshots', 'damaged'],
  properties: {
    snapshots: { type: 'array', items: SUMMARY, description: 'completed snapshots, newest first' },
    damaged: { type: 'array', description: 'snapshot directories whose manifest cannot be read', items: { type: 'object', properties: { id: { type: 'string' }, problem: nullable('string') } } },
  },
});

export const RESTORE_PLAN = open({
  type: 'object',
  required: ['snapshot_id', 'schema', 'resync_offered', 'replaces_undo'],
  properties: {
    snapshot_id: { type: 'string' },
    name: { type: 'string' },
    kind: { type: 'string' },
    pipeline_stage: nullable('string'),
    contains: { type: 'object', properties: { postgres: { type: 'boolean' }, vector_index: { type: 'boolean' }, ingested_files: { type: 'boolean' } } },
    schema: {
      type: 'object',
      properties: {
        snapshot: nullable('string'),
        code: { type: 'string' },
        relation: { type: 'string', enum: ['same', 'older', 'newer'] },
        force_required: { type: 'boolean' },
        restorable: { type: 'boolean' },
        explanation: { type: 'string' },
      },
    },
    resync_offered: { type: 'boolean', description: 'a database-only snapshot leaves the index as it is; resync brings it in line' },
    replaces_undo: { type: 'boolean', description: 'the restore replaces the database undo would bring back today' },
    rows: { type: 'integer' },
    tables: { type: 'integer' },
    total_bytes: { type: 'integer' },
  },
});

export const VERIFY_RESULT = open({
  type: 'object',
  required: ['id', 'ok', 'problems', 'files'],
  properties: {
    id: { type: 'string' },
    ok: { type: 'boolean' },
    problems: { type: 'array', items: { type: 'string' } },
    files_checked: { type: 'integer' },
    bytes_checked: { type: 'integer' },
    files: {
      type: 'array',
      description: 'one entry per file the manifest lists, in manifest order',
      items: { type: 'object', properties: { path: { type: 'string' }, size: { type: 'integer' }, ok: { type: 'boolean' }, problem: nullable('string') } },
    },
    deep: { type: 'object', description: 'with deep: the test restore', properties: { tables_checked: { type: 'integer' }, rows_checked: { type: 'integer' } } },
  },
});

const DECISION = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    created_at: { type: 'string', format: 'date-time' },
    keep: { type: 'boolean' },
    reasons: { type: 'array', items: { type: 'string', enum: ['daily', 'weekly', 'monthly', 'pinned', 'pre-deployment', 'unconfirmed'] } },
    bytes: { type: 'integer' },
    verification_failed: { type: 'boolean', description: 'its last verification failed: it fills no retention slot' },
  },
};

export const PRUNE_RESULT = open({
  type: 'object',
  required: ['dry_run', 'deleted', 'kept', 'freed_bytes'],
  properties: { dry_run: { type: 'boolean' }, deleted: { type: 'array', items: DECISION }, kept: { type: 'array', items: DECISION }, freed_bytes: { type: 'integer' } },
});

export const DELETE_RESULT = open({
  type: 'object',
  required: ['id', 'freed_bytes'],
  properties: { id: { type: 'string' }, name: { type: 'string' }, freed_bytes: { type: 'integer' } },
});

export const COOL_RESULT = open({
  type: 'object',
  required: ['snapshot_id', 'cooled', 'freed_bytes'],
  properties: { snapshot_id: { type: 'string' }, cooled: { type: 'boolean', description: 'false when the snapshot was not warm' }, freed_bytes: { type: 'integer' } },
});

const HIT = {
  type: 'object',
  required: ['control_id', 'title', 'score', 'match'],
  properties: {
    control_id: { type: 'string' },
    title: { type: 'string' },
    status: nullable('string'),
    score: { type: 'number', description: 'hybrid: fused score (an id match adds 1); keyword: BM25; semantic: similarity (Euclid: distance); id: 1' },
    family_id: nullable('string'),
    key_control: nullable('boolean'),
    owning_function_id: nullable('string'),
    owning_location_id: nullable('string'),
    risk_theme_ids: { type: 'array', items: { type: 'string' } },
    match: {
      type: 'object',
      description: 'why it is here: an id match, and its 1-based rank in each ranking that found it',
      properties: { id: { type: 'boolean' }, keyword_rank: nullable('integer'), semantic_rank: nullable('integer') },
    },
  },
};

/** `GET|POST /api/v2/controls/search`. */
export const SEARCH_RESULT = open({
  type: 'object',
  required: ['query', 'mode', 'limit', 'offset', 'results', 'next_cursor', 'warnings'],
  properties: {
    query: { type: 'string' },
    mode: { type: 'string', enum: ['hybrid', 'keyword', 'semantic', 'id'] },
    filter: { type: 'object', description: 'the filters applied' },
    limit: { type: 'integer' },
    offset: { type: 'integer' },
    results: { type: 'array', items: HIT },
    next_cursor: nullable('string', { description: 'pass as cursor for the next page; null on the last one' }),
    backend: nullable('string', { description: 'embedded or qdrant; null when no vector index was used' }),
    location: nullable('string'),
    model: { ...nullable('object'), properties: { model: { type: 'string' }, dimension: { type: 'integer' }, distance: { type: 'string' } } },
    index_points: nullable('integer'),
    warnings: { type: 'array', items: { type: 'string' } },
  },
});

const NAMED = { type: 'object', properties: { id: { type: 'string' }, name: nullable('string') } };

/** `GET /api/v2/controls/{id}` (controls/detail.ts). */
export const CONTROL_DETAIL = open({
  type: 'object',
  required: ['control_id', 'as_of', 'attributes', 'history'],
  properties: {
    control_id: { type: 'string' },
    as_of: { type: 'string', format: 'date-time', description: 'the moment described (now unless as_of was given)' },
    attributes: { type: 'object', description: 'the version current at as_of: title, description, family_id, status, key_control, ... (the columns of src_controls_ver_control)' },
    owning_function: { ...nullable('object'), properties: NAMED.properties },
    owning_location: { ...nullable('object'), properties: NAMED.properties },
    related_functions: { type: 'array', items: NAMED },
    related_locations: { type: 'array', items: NAMED },
    risk_themes: { type: 'array', items: { type: 'object', properties: { id: { type: 'string' }, name: nullable('string'), status: nullable('string') } } },
    enrichment: {
      ...nullable('object'),
      properties: {
        summary: { type: 'string' },
        keywords: { type: 'array', items: { type: 'string' } },
        model: { type: 'string' },
        taxonomy_mapping: { type: 'array', items: { type: 'object', properties: { risk_theme_id: { type: 'string' }, name: nullable('string'), score: { type: 'number' }, rank: { type: 'integer' } } } },
      },
    },
    history: {
      type: 'array',
      description: 'versions, newest first (transaction time: tx_to null is the current one)',
      items: {
        type: 'object',
        properties: { version_id: { type: 'integer' }, title: { type: 'string' }, status: nullable('string'), upload_id: nullable('string'), tx_from: { type: 'string', format: 'date-time' }, tx_to: nullable('string', { format: 'date-time' }) },
      },
    },
  },
});

/** `GET /api/v2/pipelines/uploads` (ingest/uploads.ts). */
export const UPLOAD_LIST = open({
  type: 'object',
  required: ['uploads', 'total', 'limit', 'offset'],
  properties: {
    uploads: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          upload_id: { type: 'string' },
          kind: { type: 'string' },
          original_filename: nullable('string'),
          size_bytes: nullable('integer'),
          status: { type: 'string' },
          rows_inserted: { type: 'integer' },
          rows_updated: { type: 'integer' },
          rows_unchanged: { type: 'integer' },
          rows_closed: { type: 'integer' },
          rows_rejected: { type: 'integer' },
          error_count: { type: 'integer' },
          created_at: { type: 'string', format: 'date-time' },
          started_at: nullable('string', { format: 'date-time' }),
          finished_at: nullable('string', { format: 'date-time' }),
        },
      },
    },
    total: { type: 'integer' },
    limit: { type: 'integer' },
    offset: { type: 'integer' },
  },
});

const CHECK_LIST = { type: 'object', properties: { count: { type: 'integer' }, ids: { type: 'array', items: { type: 'string' } } } };

/** `GET /api/v2/pipelines/index/check` (index/check.ts). */
export const INDEX_CHECK = open({
  type: 'object',
  required: ['ok', 'backend', 'missing', 'stale', 'orphan'],
  properties: {
    ok: { type: 'boolean' },
    backend: { type: 'string' },
    location: { type: 'string' },
    index_exists: { type: 'boolean' },
    index_model: { ...nullable('object'), properties: { model: { type: 'string' }, dimension: { type: 'integer' }, distance: { type: 'string' } } },
    embedder_model: { type: 'object', properties: { model: { type: 'string' }, dimension: nullable('integer'), distance: { type: 'string' } } },
    model_mismatch: nullable('string'),
    controls: { type: 'integer' },
    points: { type: 'integer' },
    up_to_date_signature: { type: 'boolean' },
    missing: CHECK_LIST,
    stale: {
      type: 'object',
      properties: { count: { type: 'integer' }, ids: { type: 'array', items: { type: 'object', properties: { control_id: { type: 'string' }, reason: { type: 'string' } } } } },
    },
    orphan: CHECK_LIST,
    duration_ms: { type: 'integer' },
  },
});

/** `GET /api/v2/pipelines/status`. */
export const PIPELINE_STATUS = open({
  type: 'object',
  required: ['stage', 'counts', 'current'],
  properties: {
    stage: { type: 'string', enum: ['clean', 'context', 'controls', 'indexed'], description: 'the last pipeline stage completed on this database' },
    counts: { type: 'object', additionalProperties: { type: 'number' }, description: 'row counts recorded when stages completed' },
    updated_at: { type: 'string', format: 'date-time' },
    current: { type: 'object', properties: { controls: { type: 'integer' }, functions: { type: 'integer' }, risk_themes: { type: 'integer' } } },
  },
});

const LOCK_HOLDER = {
  ...nullable('object'),
  properties: { pid: { type: 'integer' }, host: { type: 'string' }, operation: { type: 'string' }, snapshot_id: nullable('string'), database: { type: 'string' }, started_at: { type: 'string', format: 'date-time' }, backend_pid: { type: 'integer' } },
};

/** `GET /api/v2/devdata/snapshots/status` (snapshot/status.ts). */
export const SNAPSHOT_STATUS = open({
  type: 'object',
  required: ['database', 'lock', 'snapshots'],
  properties: {
    database: { type: 'string' },
    backup_path: { type: 'string' },
    lock: { type: 'object', properties: { held: { type: 'boolean' }, holder: LOCK_HOLDER, holder_alive: nullable('boolean'), stale_lock_file: LOCK_HOLDER } },
    in_progress: { type: 'array', items: { type: 'string' } },
    snapshots: { type: 'object', properties: { count: { type: 'integer' }, total_bytes: { type: 'integer' }, latest: nullable('string') } },
    last_operation: { ...nullable('object'), description: 'the last operation event: kind, snapshot, status, when, error' },
    last_restore: { ...nullable('object'), description: 'the last restore: snapshot, replaced database, whether undo can bring it back (undo_command)' },
    leftovers: { type: 'array', items: { type: 'string' }, description: 'what a dead operation left, waiting for recovery (a running server repairs it within seconds)' },
    backup_volume: { type: 'object', properties: { free_bytes: { type: 'integer' }, full: { type: 'boolean' } } },
    backup_missing: nullable('string'),
    warm: { type: 'array', items: { type: 'object', properties: { snapshot_id: { type: 'string' }, database: { type: 'string' }, size_bytes: { type: 'integer' } } } },
  },
});

/** `POST /api/v2/devdata/snapshots/recover` (pipeline/recover.ts). */
export const RECOVER_RESULT = open({
  type: 'object',
  required: ['repaired', 'summary'],
  properties: {
    repaired: { type: 'boolean' },
    summary: { type: 'string' },
    removed_temp_dirs: { type: 'array', items: { type: 'string' } },
    dropped_databases: { type: 'array', items: { type: 'string' } },
    reopened_database: { type: 'boolean' },
    dropped_collections: { type: 'array', items: { type: 'string' } },
    completed_index_switch: { type: 'boolean' },
    removed_upload_parts: { type: 'array', items: { type: 'string' } },
    failed_uploads: { type: 'array', items: { type: 'string' } },
  },
});

/** `GET /api/v2/devdata/snapshots/health` (snapshot/health.ts); 503 answers the same body. */
export const SNAPSHOT_HEALTH = open({
  type: 'object',
  required: ['status', 'checks'],
  properties: {
    status: { type: 'string', enum: ['healthy', 'warning', 'unhealthy'] },
    checks: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string', enum: ['latest_snapshot', 'verification', 'failures', 'disk', 'warm_copies', 'pre_restore_backup', 'staging_databases', 'database', 'offsite'] },
          status: { type: 'string', enum: ['healthy', 'warning', 'unhealthy'] },
          message: { type: 'string' },
          value: { description: 'what was measured (ages, counts, bytes), null when nothing was' },
        },
      },
    },
  },
});

/** A page of the audit trail, generated from the zod schema nfr_audit rows are read into (jobs/audit.ts). */
export const AUDIT_LIST = open({
  type: 'object',
  required: ['entries', 'next_cursor'],
  properties: {
    entries: { type: 'array', items: z.toJSONSchema(auditEntrySchema, { io: 'output', target: 'openapi-3.0', unrepresentable: 'any' }) as Json },
    next_cursor: nullable('string', { description: 'pass as cursor for the next (older) page; null on the last' }),
  },
});
