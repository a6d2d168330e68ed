import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef } from 'react';
import { ApiError, type ApiErrorCode } from '../api/client';
import { useActiveJobs } from '../api/queries';
import type { Job } from '../api/types';
import { formatAge, formatBytes, formatNumber } from '../format';
import { useApi } from '../session';
import { ActionButton } from './action-button';
import { ErrorMessage } from './error-message';

const KIND_LABELS: Record<string, string> = {
  'snapshot.create': 'Snapshot',
  'snapshot.restore': 'Restore',
  'snapshot.undo': 'Undo last restore',
  'snapshot.diff': 'Comparison with',
  'ingest.controls': 'Controls upload',
  'ingest.context': 'Context ingestion',
  'index.sync': 'Index sync',
  'snapshot.scheduled': 'Scheduled snapshot',
};

/** "Restore SNAP-2026-0002", "Controls upload UPL-2026-0003 (controls.csv)". */
export function jobTitle(job: Job): string {
  const label = KIND_LABELS[job.kind] ?? job.kind;
  const p = job.params;
  const subject = 'snapshot_id' in p ? p.snapshot_id : 'upload_id' in p ? p.upload_id : '';
  const file = 'filename' in p ? ` (${p.filename})` : '';
  return `${label}${subject ? ` ${subject}` : ''}${file}`;
}

/** Phase, tables, bytes and percentage of one job. */
export function JobProgress({ job }: { job: Job }) {
  const c = job.counts ?? {};
  const percent = Math.round(job.progress_percent);
  const parts: string[] = [];
  if (c.tables_total !== undefined) parts.push(`tables ${formatNumber(c.tables_done ?? 0)} of ${formatNumber(c.tables_total)}`);
  if (c.bytes !== undefined) parts.push(formatBytes(c.bytes));
  if (c.rows_read !== undefined) parts.push(`${formatNumber(c.rows_read)} rows read`);
  return (
    <div className="job-progress">
      <div className="job-line">
        <span className="job-title">{jobTitle(job)}</span>
        <span className={`badge status-${job.status}`}>{job.status}</span>
        <span className="muted">
          phase <strong>{job.step ?? 'waiting'}</strong>
          {parts.length ? ` · ${parts.join(' · ')}` : ''} · {percent} %{job.server && job.status === 'running' ? ` · on ${job.server}` : ''}
        </span>
      </div>
      {job.status === 'pending' || job.status === 'running' ? <CancelJob job={job} /> : null}
      {job.status === 'failed' || job.status === 'cancelled' ? null : (
        <progress max={100} value={job.progress_percent} aria-label={`${jobTitle(job)} progress`}>
          {percent} %
        </progress>
      )}
      {job.status === 'pending' ? <p className="muted small">Queued since {formatAge(job.created_at)}, behind the jobs before it.</p> : null}
      {job.error ? <ErrorMessage error={new ApiError(job.error.code as ApiErrorCode, job.error.message, 0)} /> : null}
    </div>
  );
}

/** Cancels a queued job at once, a running one at its next safe point (operators and admins). */
function CancelJob({ job }: { job: Job }) {
  const api = useApi();
  const client = useQueryClient();
  const cancel = useMutation({
    mutationFn: () => api.cancelJob(job.job_id),
    onSuccess: () => {
      void client.invalidateQueries({ queryKey: ['jobs'] });
      void client.invalidateQueries({ queryKey: ['job', job.job_id] });
    },
  });
  const asked = Boolean(job.cancel_requested_at) || cancel.isSuccess;
  return (
    <div className="job-cancel">
      <ActionButton action="cancelJob" aria-label="Cancel" onClick={() => cancel.mutate()} disabled={asked || cancel.isPending}>
        Cancel
      </ActionButton>
      {asked && job.status === 'running' ? <span className="muted small"> Cancelling: the job stops at its next safe point.</span> : null}
      {cancel.error ? <ErrorMessage error={cancel.error} title="Cancel" /> : null}
    </div>
  );
}

/**
 * Every queued or running job on the server, polled: it survives a reload because it is read
 * from `GET /api/v2/jobs?status=running`, not from the page's memory.
 */
export function ActiveJobs() {
  const { data, error } = useActiveJobs();
  const client = useQueryClient();
  const seen = useRef(new Set<string>());
  const jobs = data ?? [];
  // A job that leaves the list has finished: refresh what it changed.
  useEffect(() => {
    const now = new Set(jobs.map((j) => j.job_id));
    for (const id of seen.current) {
      if (!now.has(id)) {
        for (const queryKey of [['snapshots'], ['status'], ['pipeline'], ['index-check'], ['uploads'], ['health'], ['jobs', 'recent']]) void client.invalidateQueries({ queryKey });
      }
    }
    seen.current = now;
  }, [jobs, client]);
  if (error) return <ErrorMessage error={error} title="Running jobs" />;
  if (jobs.length === 0) return null;
  return (
    <section className="active-jobs" aria-label="Running jobs" aria-live="polite">
      <h2 className="visually-hidden">Running jobs</h2>
      {jobs.map((job) => (
        <JobProgress key={job.job_id} job={job} />
      ))}
    </section>
  );
}
