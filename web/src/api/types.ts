/**
 * The shapes of the API's answers that the console reads. Where the server declares a result as
 * a TypeScript interface, the console takes it from there (type-only imports: nothing of the
 * server reaches the bundle), so the two cannot drift apart; the rest are written here.
 */
import type { ApiErrorCode } from './client';
import type { AuditEntry } from '../../../src/jobs/audit.js';
import type { JobView } from '../../../src/server/routes/jobs.js';
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
  readonly error: { readonly code: ApiErrorCode; readonly message: string } | null;
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

/** A job as the API answers it: the server's own type, `params` typed by `kind` from the task schemas. */
export type Job = JobView;
export type JobStatus = Job['status'];
export type JobError = Job['errors'][number];

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

/** One entry of the audit trail (`GET /api/v2/audit`, admin): the server's type (jobs/audit.ts). */
export type { AuditEntry };

export interface AuditPage {
  readonly entries: readonly AuditEntry[];
  /** Pass as `cursor` for the next (older) page; null on the last. */
  readonly next_cursor: string | null;
}
