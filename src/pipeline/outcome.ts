/**
 * What each stage's result and progress look like in a job record: its counts, its errors, and
 * for snapshots a percentage from the phase and the tables done.
 */
import type { SyncResult } from '../index/sync.js';
import type { ContextIngestReport } from '../ingest/context.js';
import type { ControlsIngestResult } from '../ingest/controls.js';
import type { JobOutcome } from '../jobs/outcome.js';
import type { JobReport } from '../jobs/runner.js';
import { MAX_JOB_ERRORS } from '../jobs/store.js';
import type { Progress } from '../runtime/operation.js';

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

/** Maps snapshot progress to a job percentage (phases get fixed bands, tables fill the band) and counts. */
export function snapshotProgress(kind: 'create' | 'restore' | 'warm' | 'diff' | 'push', p: Progress): JobReport {
  const bands: Record<string, [number, number]> =
    kind === 'push'
      ? { uploading: [1, 90], 'checking upload': [90, 99], completed: [100, 100] }
      : kind === 'create'
      ? { dumping: [2, 95], uploading: [95, 98], 'checking upload': [98, 99], completed: [100, 100] }
      : kind === 'warm'
        ? { verifying: [1, 5], restoring: [5, 92], checking: [92, 99], completed: [100, 100] }
        : kind === 'diff'
          ? { cloning: [5, 60], restoring: [5, 80], comparing: [80, 99], completed: [100, 100] }
        : {
            downloading: [0, 1],
            verifying: [1, 5],
            backup: [5, 30],
            restoring: [30, 85],
            cloning: [30, 85],
            checking: [85, 88],
            migrating: [88, 89],
            swapping: [89, 90],
            'backup-after-swap': [90, 97],
            reporting: [97, 99],
            resyncing: [97, 99],
            completed: [100, 100],
          };
  const [from, to] = bands[p.phase] ?? [0, 0];
  const fraction = p.tables_total ? (p.tables_done ?? 0) / p.tables_total : 0;
  // Tables and bytes go into counts, so a client shows them beside the phase and percentage.
  const counts: Record<string, number> = {};
  if (p.tables_total !== undefined) counts.tables_total = p.tables_total;
  if (p.tables_done !== undefined) counts.tables_done = p.tables_done;
  if (p.bytes !== undefined) counts.bytes = p.bytes;
  return { percent: from + (to - from) * fraction, step: p.phase, ...(Object.keys(counts).length ? { counts } : {}) };
}
