/**
 * The shapes of the API's answers that the console reads (see GET /api/v2/openapi.json and the
 * README's API section). Fields the console does not use are left out, not guessed.
 */

export type Role = 'reader' | 'operator' | 'admin';

export interface Me {
  readonly role: Role;
  readonly version?: string;
  readonly schema_version?: string;
}

export type JobStatus = 'pending' | 'running' | 'completed' | 'failed';

export interface JobError {
  readonly line: number | null;
  readonly field: string | null;
  readonly message: string;
  readonly file?: string;
}

export interface Job {
  readonly job_id: string;
  readonly kind: string;
  readonly status: JobStatus;
  readonly progress_percent: number;
  readonly step: string | null;
  readonly created_at: string;
  readonly started_at: string | null;
  readonly finished_at: string | null;
  readonly params: Record<string, unknown>;
  readonly result: unknown;
  readonly error: { readonly code: string; readonly message: string } | null;
  readonly counts: Record<string, number> | null;
  readonly errors: readonly JobError[];
}

export interface JobAccepted {
  readonly job_id: string;
  readonly snapshot_id?: string;
  readonly upload_id?: string;
}

export interface SnapshotSummary {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly tags: readonly string[];
  readonly status: string;
  readonly kind: 'postgres' | 'full';
  readonly created_at: string;
  readonly completed_at: string;
  readonly duration_ms: number;
  readonly schema_version: string | null;
  readonly pipeline_stage: string | null;
  readonly total_bytes: number;
  readonly tables: number;
  readonly rows: number;
  /** Its warm copy on the database server, when it has one (restores clone it). */
  readonly warm?: { readonly database: string; readonly size_bytes: number; readonly warmed_at: string; readonly last_restored_at: string | null } | null;
}

export interface SnapshotList {
  readonly snapshots: readonly SnapshotSummary[];
  readonly damaged: readonly { readonly id: string; readonly problem: string }[];
}

export interface Manifest {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly tags: readonly string[];
  readonly status: string;
  readonly kind: string;
  readonly created_at: string;
  readonly completed_at: string;
  readonly duration_ms: number;
  readonly database: {
    readonly name: string;
    readonly server_version: string;
    readonly pg_dump_version: string;
    readonly schema_version: string | null;
    readonly pipeline_stage: string | null;
    readonly size_bytes: number;
  };
  readonly tables: readonly { readonly schema: string; readonly name: string; readonly rows: number }[];
  readonly files: readonly { readonly path: string; readonly size: number; readonly sha256: string }[];
  readonly total_bytes: number;
  readonly contains: { readonly postgres: boolean; readonly vector_index: boolean; readonly ingested_files: boolean };
  readonly index: { readonly backend?: string; readonly model?: string; readonly points?: number } | null;
  readonly schema_version: string | null;
  readonly pipeline_stage: string | null;
}

export interface RestorePlan {
  readonly snapshot_id: string;
  readonly name: string;
  readonly kind: string;
  readonly pipeline_stage: string | null;
  readonly contains: Manifest['contains'];
  readonly schema: {
    readonly snapshot: string | null;
    readonly code: string;
    readonly relation: 'same' | 'older' | 'newer';
    readonly force_required: boolean;
    readonly restorable: boolean;
    readonly explanation: string;
  };
  readonly resync_offered: boolean;
  readonly replaces_undo: boolean;
  readonly rows: number;
  readonly tables: number;
  readonly total_bytes: number;
}

export interface AfterRestoreReport {
  readonly snapshot_stage: string | null;
  readonly index: {
    readonly status: 'in-sync' | 'out-of-date' | 'missing' | 'resynced' | 'unknown';
    readonly missing: number;
    readonly stale: number;
    readonly orphan: number;
    readonly detail: string | null;
    readonly fix: string | null;
  };
  readonly unreferenced_files: { readonly count: number; readonly files: readonly string[] };
}

export interface RestoreResult {
  readonly snapshot_id: string;
  readonly restored_from?: 'archive' | 'warm copy';
  readonly pre_restore_backup_id: string | null;
  readonly pre_restore_backup_error?: string | null;
  readonly previous_database: string | null;
  readonly schema: { readonly snapshot: string | null; readonly code: string; readonly migrated: readonly string[] };
  readonly tables_checked: number;
  readonly rows_restored: number;
  readonly blocked_ms: number;
  readonly after_restore: AfterRestoreReport;
  readonly duration_ms: number;
}

export interface UndoResult {
  readonly snapshot_id: string;
  readonly undone: boolean;
  readonly blocked_ms: number;
}

export interface VerifyResult {
  readonly id: string;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly files_checked: number;
  readonly bytes_checked: number;
  readonly files?: readonly { readonly path: string; readonly size: number; readonly ok: boolean; readonly problem: string | null }[];
}

export interface RetentionDecision {
  readonly id: string;
  readonly name: string;
  readonly created_at: string;
  readonly reasons: readonly string[];
  readonly bytes: number;
}

export interface PruneResult {
  readonly dry_run: boolean;
  readonly deleted: readonly RetentionDecision[];
  readonly kept: readonly RetentionDecision[];
  readonly freed_bytes: number;
}

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly operation: string;
  readonly snapshot_id: string | null;
  readonly started_at: string;
}

export interface SnapshotStatus {
  readonly database: string;
  readonly lock: { readonly held: boolean; readonly holder: LockHolder | null; readonly holder_alive: boolean | null };
  readonly snapshots: { readonly count: number; readonly total_bytes: number; readonly latest: string | null };
  readonly last_operation: { readonly at: string; readonly operation: string; readonly status: string; readonly snapshot_id?: string | null } | null;
  readonly last_restore: {
    readonly snapshot_id: string;
    readonly restored_at: string;
    readonly undone: boolean;
    readonly previous_dropped?: boolean;
    readonly undo_command: string | null;
  } | null;
}

export type CheckStatus = 'healthy' | 'warning' | 'unhealthy';

export interface SnapshotHealth {
  readonly status: CheckStatus;
  readonly checks: readonly { readonly name: string; readonly status: CheckStatus; readonly message: string; readonly value: unknown }[];
}

export interface ServiceHealth {
  readonly status: 'ok' | 'degraded';
  readonly database: { readonly status: 'ok' | 'error'; readonly message?: string };
  readonly index: { readonly backend: string; readonly status: string; readonly points: number; readonly in_sync: boolean | null; readonly message?: string; readonly model?: string };
  readonly active_job: string | null;
}

export interface PipelineStatus {
  readonly stage: string;
  readonly counts: Record<string, number>;
  readonly updated_at: string | null;
}

export interface IndexCheck {
  readonly ok: boolean;
  readonly backend: string;
  readonly index_exists: boolean;
  readonly model_mismatch: string | null;
  readonly controls: number;
  readonly points: number;
  readonly missing: { readonly count: number; readonly ids: readonly string[] };
  readonly stale: { readonly count: number; readonly ids: readonly string[] };
  readonly orphan: { readonly count: number; readonly ids: readonly string[] };
}

export interface Upload {
  readonly upload_id: string;
  readonly kind: 'controls' | 'context';
  readonly original_filename: string | null;
  readonly size_bytes: number | null;
  readonly status: JobStatus;
  readonly rows_inserted: number;
  readonly rows_updated: number;
  readonly rows_unchanged: number;
  readonly rows_closed: number;
  readonly rows_rejected: number;
  readonly error_count: number;
  readonly created_at: string;
  readonly finished_at: string | null;
}

export interface UploadPage {
  readonly uploads: readonly Upload[];
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
}

export interface SearchHit {
  readonly control_id: string;
  readonly title: string;
  readonly status: string | null;
  readonly score: number;
  readonly owning_function_id: string | null;
}

export interface SearchResponse {
  readonly query: string;
  readonly results: readonly SearchHit[];
  readonly warnings: readonly string[];
}

export interface Named {
  readonly id: string;
  readonly name: string | null;
}

export interface ControlDetail {
  readonly control_id: string;
  readonly as_of: string;
  readonly attributes: Record<string, unknown>;
  readonly owning_function: Named | null;
  readonly owning_location: Named | null;
  readonly related_functions: readonly Named[];
  readonly related_locations: readonly Named[];
  readonly risk_themes: readonly (Named & { readonly status: string | null })[];
  readonly enrichment: {
    readonly summary: string;
    readonly keywords: readonly string[];
    readonly model: string;
    readonly taxonomy_mapping: readonly { readonly risk_theme_id: string; readonly name: string | null; readonly score: number; readonly rank: number }[];
  } | null;
  readonly history: readonly { readonly version_id: number; readonly title: string; readonly status: string | null; readonly upload_id: string | null; readonly tx_from: string; readonly tx_to: string | null }[];
}
