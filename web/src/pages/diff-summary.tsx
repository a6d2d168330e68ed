import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useApi } from '../session';
import { useJob } from '../api/queries';
import type { SnapshotDiff } from '../api/types';
import { ErrorMessage } from '../components/error-message';
import { JobProgress } from '../components/job-progress';
import { Loading } from '../components/loading';
import { formatNumber, formatTime } from '../format';

const ENTITY_NAMES: Record<string, [string, string]> = {
  controls: ['control', 'controls'],
  functions: ['function', 'functions'],
  locations: ['location', 'locations'],
  risk_themes: ['risk theme', 'risk themes'],
  assessment_units: ['assessment unit', 'assessment units'],
};

const plural = (n: number, entity: string) => `${formatNumber(n)} ${(ENTITY_NAMES[entity] ?? [entity, entity])[n === 1 ? 0 : 1]}`;

/** One line per entity that changes: "removes 1,240 controls added since …, brings back 3, reverts 37". */
export function diffSentences(d: SnapshotDiff, since: string | null): string[] {
  const out: string[] = [];
  for (const [entity, c] of Object.entries(d.summary)) {
    const parts: string[] = [];
    if (c.removes) parts.push(`removes ${plural(c.removes, entity)} added since${since ? ` ${formatTime(since)}` : ''}`);
    if (c.brings_back) parts.push(parts.length ? `brings back ${formatNumber(c.brings_back)}` : `brings back ${plural(c.brings_back, entity)} closed since`);
    if (c.reverts) parts.push(parts.length ? `reverts ${formatNumber(c.reverts)}` : `reverts ${plural(c.reverts, entity)} changed since`);
    if (parts.length) out.push(parts.join(', '));
  }
  return out;
}

/**
 * What a restore of `id` over live (or `to`) would change, in the data's terms, with every id one
 * click away. A diff that needs a copy of the snapshot runs as a job; its progress shows here.
 */
export function DiffSummary({ id, to = 'live', since }: { id: string; to?: string; since: string | null }) {
  const api = useApi();
  const [all, setAll] = useState(false);
  const first = useQuery({ queryKey: ['diff', id, to], queryFn: () => api.diff(id, to, { limit: 200 }), staleTime: 0 });
  const jobId = first.data && 'job_id' in first.data ? first.data.job_id : null;
  const job = useJob(jobId);
  const diff: SnapshotDiff | undefined = first.data && !('job_id' in first.data) ? first.data : (job.data?.status === 'completed' ? (job.data.result as SnapshotDiff) : undefined);
  if (first.isPending) return <Loading what="what the restore would change" />;
  if (first.error) return <ErrorMessage error={first.error} title="Could not compare" />;
  if (!diff) {
    // The same progress the console shows for every other job (phase, tables, percentage,
    // cancel, its error), named for what it compares.
    const method = first.data && 'method' in first.data ? first.data.method : 'scratch';
    return (
      <section aria-label="Comparing with a copy of the snapshot" className="diff-summary">
        <p className="muted small">Comparing with {method === 'warm' ? 'a clone of the warm copy' : 'a scratch restore'} of the snapshot: the live database does not descend from it.</p>
        {job.data ? <JobProgress job={job.data} /> : <Loading what="the comparison job" />}
      </section>
    );
  }
  const sentences = diffSentences(diff, since);
  const shrinking = diff.tables.filter((t) => t.difference !== 0);
  return (
    <section aria-label="What the restore changes" className="diff-summary">
      {sentences.length ? (
        <p>
          A restore {sentences.join('; ')}
          {diff.changes.length ? (
            <>
              {' — '}
              <button type="button" className="link" aria-expanded={all} onClick={() => setAll(!all)}>
                {all ? 'hide' : 'see all'}
              </button>
            </>
          ) : null}
        </p>
      ) : (
        <p>The data is the same: a restore changes no control or context entity.</p>
      )}
      <p className="muted small">
        {shrinking.length} of {diff.tables.length} tables change their row count. Computed from {diff.method === 'history' ? 'the live history' : diff.method === 'warm' ? 'a clone of the warm copy' : 'a scratch restore'}.
      </p>
      {all ? (
        <div className="diff-list">
          <table>
            <caption className="sr-only">Changes a restore would make</caption>
            <thead>
              <tr>
                <th scope="col">Entity</th>
                <th scope="col">Change</th>
                <th scope="col">Id</th>
                <th scope="col">Attributes (now → restored)</th>
              </tr>
            </thead>
            <tbody>
              {diff.changes.map((c) => (
                <tr key={`${c.entity}/${c.id}`}>
                  <td>{(ENTITY_NAMES[c.entity] ?? [c.entity])[0]}</td>
                  <td>{c.change.replace('_', ' ')}</td>
                  <td>{c.id}</td>
                  <td>{c.attributes?.map((a) => `${a.name}: ${JSON.stringify(a.to)} → ${JSON.stringify(a.snapshot)}`).join('; ') ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {diff.next_cursor ? <p className="muted small">First {formatNumber(diff.changes.length)} shown; `nfr snapshot diff --id {id}` lists the rest.</p> : null}
        </div>
      ) : null}
    </section>
  );
}
