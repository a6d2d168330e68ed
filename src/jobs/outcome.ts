/**
 * The `counts` and `errors` a job record shows (SPEC §4.2: "progress, counts, errors"), taken from
 * what the work returned, or from the error it failed with. One vocabulary for every ingestion:
 * rows_read / rows_valid / rows_rejected, error_count, and the versions inserted / updated /
 * unchanged / closed.
 */
import type { NfrError } from '../errors.js';
import type { SyncResult } from '../index/sync.js';
import type { ContextIngestReport } from '../ingest/context.js';
import type { ControlsIngestResult } from '../ingest/controls.js';
import { MAX_JOB_ERRORS, type JobCounts, type JobError } from './store.js';

export interface JobOutcome {
  readonly counts?: JobCounts;
  readonly errors?: readonly JobError[];
}

/** A controls batch: its rows, the control versions it wrote, and the rows it rejected. */
export function controlsOutcome(r: ControlsIngestResult): JobOutcome {
  return {
    counts: { rows_read: r.rows.read, rows_valid: r.rows.valid, rows_rejected: r.rows.rejected, error_count: r.error_count, ...r.controls },
    errors: r.errors.slice(0, MAX_JOB_ERRORS).map((e) => ({ line: e.line, field: e.field, message: e.message })),
  };
}

/** A context run: lines over every file, versions over every table, files applied and rejected. */
export function contextOutcome(r: ContextIngestReport): JobOutcome {
  const t = r.totals;
  const files = r.providers.flatMap((p) => p.files);
  return {
    counts: {
      rows_read: t.lines_read,
      rows_valid: t.lines_read - t.rejected,
      rows_rejected: t.rejected,
      error_count: files.reduce((n, f) => n + f.errors_total, 0),
      inserted: t.inserted,
      updated: t.updated,
      unchanged: t.unchanged,
      closed: t.closed,
      files_applied: t.files_applied,
      files_rejected: t.files_rejected,
    },
    errors: files.flatMap((f) => f.errors).slice(0, MAX_JOB_ERRORS).map((e) => ({ line: e.line, field: e.field, message: e.message, file: e.file })),
  };
}

/** An index sync: what it found, embedded, wrote and deleted. */
export function indexSyncOutcome(r: SyncResult): JobOutcome {
  return { counts: { controls: r.controls, points: r.points, upserted: r.upserted, embedded: r.embedded, reused: r.reused, deleted: r.deleted, unchanged: r.unchanged } };
}

/**
 * What a failure's details tell: ingestion rejects a batch with `details.errors` (line, field,
 * message per problem), `rows_read`, `rows_rejected` and `error_count`; other failures list
 * `details.problems` (a bad header, failed checksums) for `details.line` if any.
 */
export function failureOutcome(err: NfrError): JobOutcome {
  const d = err.details ?? {};
  const counts: Record<string, number> = {};
  for (const key of ['rows_read', 'rows_rejected', 'error_count'] as const) {
    const v = d[key];
    if (typeof v === 'number') counts[key] = v;
  }
  if (counts.rows_read !== undefined && counts.rows_rejected !== undefined) counts.rows_valid = counts.rows_read - counts.rows_rejected;
  let errors: JobError[] | undefined;
  if (Array.isArray(d.errors)) {
    errors = d.errors.flatMap((e: unknown) => (typeof e === 'object' && e !== null ? [jobError(e as Record<string, unknown>)] : []));
  } else if (Array.isArray(d.problems)) {
    const line = typeof d.line === 'number' ? d.line : null;
    errors = d.problems.map((p: unknown) => ({ line, field: null, message: String(p) }));
  }
  return { ...(Object.keys(counts).length > 0 ? { counts } : {}), ...(errors ? { errors: errors.slice(0, MAX_JOB_ERRORS) } : {}) };
}

function jobError(e: Record<string, unknown>): JobError {
  return {
    line: typeof e.line === 'number' && Number.isInteger(e.line) ? e.line : null,
    field: typeof e.field === 'string' ? e.field : null,
    message: typeof e.message === 'string' ? e.message : String(e.message),
    ...(typeof e.file === 'string' ? { file: e.file } : {}),
  };
}
