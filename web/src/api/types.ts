/**
 * The shapes of the API's answers that the console reads. Where the server declares a result as
 * a TypeScript interface, the console takes it from there (type-only imports: nothing of the
 * server reaches the bundle), so the two cannot drift apart; the rest are written here.
 */
import type { ControlDetail } from '../../../src/controls/detail.js';
import type { UploadRecord as Upload } from '../../../src/ingest/uploads.js';
import type { AfterRestoreReport } from '../../../src/snapshot/after-restore.js';
import type { Manifest, SnapshotSummary } from '../../../src/snapshot/manifest.js';
import type { ControlHit as SearchHit, SearchResult as SearchResponse } from '../../../src/search/search.js';
import type { RestorePlan } from '../../../src/snapshot/restore-plan.js';
import type { SnapshotDiff } from '../../../src/snapshot/diff/index.js';
import type { PruneResult, RetentionDecision } from '../../../src/snapshot/retention.js';
import type { VerifyResult } from '../../../src/snapshot/verify.js';
import type { CheckResult as IndexCheck } from '../../../src/index/check.js';
import type { HealthReport as SnapshotHealth } from '../../../src/snapshot/health.js';
import type { RestoreResult, UndoResult } from '../../../src/snapshot/restore/index.js';
import type { SnapshotStatus } from '../../../src/snapshot/status.js';

export type {
  AfterRestoreReport,
  ControlDetail,
  IndexCheck,
  Manifest,
  PruneResult,
  RestorePlan,
  RestoreResult,
  RetentionDecision,
  SearchHit,
  SearchResponse,
  SnapshotDiff,
  SnapshotHealth,
  SnapshotStatus,
  SnapshotSummary,
  UndoResult,
  Upload,
  VerifyResult,
};

export type Role = 'reader' | 'operator' | 'admin';

export interface UploadPage {
  readonly uploads: readonly Upload[];
  readonly total: number;
  readonly limit: number;
  readonly offset: number;
}

export interface Me {
  readonly role: Role;
  readonly version?: string;
  readonly schema_version?: string;
}

export interface ScheduleRun {
  readonly tick_at: string;
  readonly outcome: 'queued' | 'skipped' | 'missed';
  readonly reason: string | null;
  readonly missed_ticks: number;
  readonly job_id: string | null;
  readonly job_status: JobStatus | null;
  readonly snapshot_id: string | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface Schedule {
  readonly name: string;
  readonly cron: string;
  readonly tz: string;
  readonly full: boolean;
  readonly warm: boolean;
  readonly tags: readonly string[];
  readonly prune: boolean;
  readonly paused: boolean;
  readonly created_by: string;
  readonly next_run_at: string | null;
  readonly last_run: ScheduleRun | null;
  readonly last_success_at: string | null;
}

export interface ScheduleInput {
  readonly name: string;
  readonly cron: string;
  readonly tz?: string;
  readonly full?: boolean;
  readonly warm?: boolean;
  readonly tags?: string[];
  readonly prune?: boolean;
}

export type JobStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

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
  readonly cancel_requested_at?: string | null;
  readonly cancelled_by?: string | null;
  /** The server that runs (or ran) it, `host:pid`; null while queued. */
  readonly server: string | null;
}

export interface JobAccepted {
  readonly job_id: string;
  readonly snapshot_id?: string;
  readonly upload_id?: string;
}


export interface SnapshotList {
  /** `location`: where the snapshot is kept, on this server's disk, in the offsite repository or both. */
  readonly snapshots: readonly (SnapshotSummary & { readonly location?: 'local' | 'offsite' | 'both' })[];
  readonly damaged: readonly { readonly id: string; readonly problem: string }[];
}













export interface ServiceHealth {
  readonly status: 'ok' | 'degraded';
  readonly database: { readonly status: 'ok' | 'error'; readonly message?: string };
  readonly index: { readonly backend: string; readonly status: string; readonly points: number; readonly in_sync: boolean | null; readonly message?: string; readonly model?: string };
  readonly active_job: string | null;
  /** The server that answered, `host:pid`. */
  readonly server: string;
}

export interface PipelineStatus {
  readonly stage: string;
  readonly counts: Record<string, number>;
  readonly updated_at: string | null;
}





export interface Named {
  readonly id: string;
  readonly name: string | null;
}

/** One entry of the audit trail (`GET /api/v2/audit`, admin). */
export interface AuditEntry {
  readonly audit_id: string;
  readonly at: string;
  readonly finished_at: string | null;
  readonly actor_kind: 'token' | 'cli' | 'server';
  /** The token's name (never the token), or the OS user for `cli`. */
  readonly actor_name: string;
  readonly actor_role: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly params: Record<string, unknown>;
  readonly client_ip: string | null;
  readonly host: string;
  readonly request_id: string | null;
  readonly status: 'started' | 'succeeded' | 'failed';
  readonly error_code: string | null;
  readonly job_id: string | null;
}

export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  /** Pass as `cursor` for the next (older) page; null on the last. */
  readonly next_cursor: string | null;
}
