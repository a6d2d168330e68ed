import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { isFinished, useJob, useRecentJobs } from '../api/queries';
import type { Job, RestoreResult, UndoResult } from '../api/types';
import { ActionButton } from '../components/action-button';
import { ErrorMessage } from '../components/error-message';
import { JobProgress } from '../components/job-progress';
import { formatAge, formatDuration, formatNumber } from '../format';
import { useApi } from '../session';
import { UndoDialog } from './snapshot-dialogs';

const isRestoreJob = (j: Job) => j.kind === 'snapshot.restore' || j.kind === 'snapshot.undo';

/**
 * The last restore (or undo): its progress while it runs, then its report — whether the index
 * still matches, which stored files the restored database no longer knows — with the fix and
 * the undo one click away. Read from the server's jobs, so it is the same after a reload.
 */
export function LastRestore({ startedJob, onStarted }: { startedJob: string | null; onStarted: (jobId: string) => void }) {
  const api = useApi();
  const status = useQuery({ queryKey: ['status'], queryFn: api.snapshotStatus, refetchInterval: 5000 });
  const recent = useRecentJobs();
  const newest = recent.data?.jobs.find(isRestoreJob);
  const tracked = useJob(startedJob ?? newest?.job_id);
  const [undoOpen, setUndoOpen] = useState(false);
  const [syncJob, setSyncJob] = useState<string | null>(null);
  const sync = useMutation({ mutationFn: () => api.indexSync(false), onSuccess: (r) => setSyncJob(r.job_id) });
  const syncing = useJob(syncJob);

  const last = status.data?.last_restore;
  const ref = useRef<HTMLElement>(null);
  // A restore just started from the list: its progress is brought into view.
  useEffect(() => {
    if (startedJob) ref.current?.scrollIntoView({ block: 'start' });
  }, [startedJob, Boolean(tracked.data)]);
  // The newest restore job describes the last restore only if it ended after it: a restore run
  // by the CLI (or another server's job) since then has no job here, and an old report would
  // describe the wrong restore.
  const newestJob = tracked.data;
  const job =
    newestJob && (!isFinished(newestJob) || !last || Date.parse(newestJob.finished_at ?? '') >= Date.parse(last.restored_at) - 1000) ? newestJob : undefined;
  if (!job && !last) return null;

  return (
    <section aria-labelledby="last-restore-title" className="panel" ref={ref}>
      <h2 id="last-restore-title">Last restore</h2>
      {job && !isFinished(job) ? <JobProgress job={job} /> : null}
      {job?.status === 'failed' ? (
        <>
          <p className="bad-text">
            {job.kind === 'snapshot.restore' ? `The restore of ${job.params.snapshot_id}` : 'The undo'} failed; the live database was not changed by it.
          </p>
          <JobProgress job={job} />
        </>
      ) : null}
      {job?.status === 'completed' && job.kind === 'snapshot.undo' ? <UndoOutcome result={job.result as UndoResult} /> : null}
      {job?.status === 'completed' && job.kind === 'snapshot.restore' ? <RestoreReport result={job.result as RestoreResult} finishedAt={job.finished_at} /> : null}
      {job?.status === 'completed' && job.kind === 'snapshot.restore' && (job.result as RestoreResult).after_restore.index.status === 'out-of-date' ? (
        <div className="actions">
          <ActionButton action="indexSync" className="primary" onClick={() => sync.mutate()} disabled={sync.isPending || (syncing.data !== undefined && !isFinished(syncing.data))}>
            Resync index
          </ActionButton>
        </div>
      ) : null}
      <ErrorMessage error={sync.error} title="Index sync" />
      {syncing.data ? <JobProgress job={syncing.data} /> : null}
      {last ? (
        <div className="actions">
          {last.undo_command ? (
            <ActionButton action="undo" onClick={() => setUndoOpen(true)} disabled={job !== undefined && !isFinished(job)}>
              {last.undone ? `Redo restore of ${last.snapshot_id}` : 'Undo last restore'}
            </ActionButton>
          ) : (
            <p className="muted">A later restore failed after dropping the kept database: there is nothing to undo to. The pre-restore backup snapshot remains.</p>
          )}
          <span className="muted small">
            {last.undone ? 'Undone' : 'Restored'} {last.snapshot_id} {formatAge(last.restored_at)}
            {job ? '' : ' (not by a job of this server, e.g. by the CLI: its report was printed there)'}
          </span>
        </div>
      ) : null}
      {undoOpen && last ? <UndoDialog snapshotId={last.snapshot_id} onClose={() => setUndoOpen(false)} onStarted={onStarted} /> : null}
    </section>
  );
}

function UndoOutcome({ result }: { result: UndoResult }) {
  return (
    <p role="status" className="ok-text">
      {result.undone ? `The restore of ${result.snapshot_id} was undone: the database from before it is live again.` : `The restore of ${result.snapshot_id} was redone.`}{' '}
      <span className="muted">(connections blocked {formatDuration(result.blocked_ms)})</span>
    </p>
  );
}

function RestoreReport({ result, finishedAt }: { result: RestoreResult; finishedAt: string | null }) {
  const ix = result.after_restore.index;
  const files = result.after_restore.unreferenced_files;
  return (
    <div className="report" aria-label="Restore report" role="region">
      <p role="status" className="ok-text">
        Restored {result.snapshot_id} {formatAge(finishedAt)}: {formatNumber(result.rows_restored)} rows in {result.tables_checked} tables checked against the manifest, in{' '}
        {formatDuration(result.duration_ms)}; connections were blocked for {formatDuration(result.blocked_ms)}.
      </p>
      <dl className="facts">
        <dt>Restored from</dt>
        <dd>{result.restored_from === 'spare' ? 'its ready spare (a rename)' : result.restored_from === 'warm copy' ? 'its warm copy (a file copy)' : 'the archive (pg_restore)'}</dd>
        <dt>Pre-restore backup</dt>
        <dd className={result.pre_restore_backup_error ? 'bad-text' : undefined}>{result.pre_restore_backup_id ?? result.pre_restore_backup_error ?? 'none (skipped)'}</dd>
        <dt>Schema</dt>
        <dd>
          {result.schema.snapshot ?? '(none)'}
          {result.schema.migrated.length ? ` → migrated to ${result.schema.code}` : ''}
        </dd>
        <dt>Index</dt>
        <dd>
          <span className={`badge ${ix.status === 'in-sync' || ix.status === 'resynced' ? 'ok' : 'warn'}`}>{ix.status === 'out-of-date' ? 'stale' : ix.status}</span>
          {ix.detail ? ` ${ix.detail}` : ''}
        </dd>
        <dt>Unreferenced files</dt>
        <dd>{files.count === 0 ? 'none' : `${files.count} file(s) belong to uploads the restored database does not know`}</dd>
      </dl>
      {result.after_restore.rerun?.commands.length ? (
        <section aria-label="What to run again">
          <p>{result.after_restore.rerun.summary}</p>
          <ol>
            {result.after_restore.rerun.commands.map((c) => (
              <li key={c}>
                <code>{c}</code>
              </li>
            ))}
          </ol>
        </section>
      ) : null}
      {files.count ? (
        // Collapsed with its count: a restore can leave dozens of them.
        <details className="files">
          <summary>
            {files.count} unreferenced file{files.count === 1 ? '' : 's'}
          </summary>
          <ul aria-label="Unreferenced files">
            {files.files.map((f) => (
              <li key={f}>
                <code>{f}</code>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
    </div>
  );
}
