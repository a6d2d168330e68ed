import { useMutation, useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { useJob } from '../api/queries';
import type { SnapshotHealth } from '../api/types';
import { ActionButton } from '../components/action-button';
import { ErrorMessage } from '../components/error-message';
import { JobProgress } from '../components/job-progress';
import { Loading } from '../components/loading';
import { formatAge, formatNumber } from '../format';
import { useApi } from '../session';

function check(health: SnapshotHealth | undefined, name: string) {
  return health?.checks.find((c) => c.name === name);
}

/** Health of the database and index, latest snapshot, disk, lock, running job, stage, index check. */
export function Overview() {
  const api = useApi();
  const health = useQuery({ queryKey: ['health'], queryFn: api.health, refetchInterval: 5000 });
  const snapshotHealth = useQuery({ queryKey: ['snapshot-health'], queryFn: api.snapshotHealth, refetchInterval: 10000 });
  const status = useQuery({ queryKey: ['status'], queryFn: api.snapshotStatus, refetchInterval: 3000 });
  const pipeline = useQuery({ queryKey: ['pipeline'], queryFn: api.pipelineStatus, refetchInterval: 10000 });

  const h = health.data;
  const lock = status.data?.lock;
  const latest = check(snapshotHealth.data, 'latest_snapshot');
  const disk = check(snapshotHealth.data, 'disk');
  return (
    <>
      <h1>Overview</h1>
      <div className="cards">
        <section className="card" aria-labelledby="card-db">
          <h2 id="card-db">Database</h2>
          {health.isPending ? <Loading what="health" /> : null}
          <ErrorMessage error={health.error} />
          {h ? (
            <p>
              <span className={`badge ${h.database.status === 'ok' ? 'ok' : 'bad'}`}>{h.database.status === 'ok' ? 'reachable' : 'unreachable'}</span>
              {h.database.message ? <span className="muted"> {h.database.message}</span> : null}
            </p>
          ) : null}
        </section>
        <section className="card" aria-labelledby="card-index">
          <h2 id="card-index">Index</h2>
          {h ? (
            <dl className="facts">
              <dt>Backend</dt>
              <dd>{h.index.backend}</dd>
              <dt>Points</dt>
              <dd>{formatNumber(h.index.points)}</dd>
              <dt>In sync</dt>
              <dd>
                <span className={`badge ${h.index.in_sync ? 'ok' : 'warn'}`}>{h.index.in_sync ? 'yes' : h.index.in_sync === false ? 'no' : 'unknown'}</span>
              </dd>
              {h.index.message ? (
                <>
                  <dt>Note</dt>
                  <dd>{h.index.message}</dd>
                </>
              ) : null}
            </dl>
          ) : null}
        </section>
        <section className="card" aria-labelledby="card-snap">
          <h2 id="card-snap">Snapshots</h2>
          <ErrorMessage error={snapshotHealth.error} />
          {snapshotHealth.data ? (
            <dl className="facts">
              <dt>Health</dt>
              <dd>
                <span className={`badge ${snapshotHealth.data.status === 'healthy' ? 'ok' : snapshotHealth.data.status === 'warning' ? 'warn' : 'bad'}`}>{snapshotHealth.data.status}</span>
              </dd>
              <dt>Latest snapshot</dt>
              <dd>{latest ? latestText(latest.value) : '—'}</dd>
              <dt>Backup disk</dt>
              <dd>{disk?.message ?? '—'}</dd>
            </dl>
          ) : null}
          {snapshotHealth.data?.checks
            .filter((c) => c.status !== 'healthy')
            .map((c) => (
              <p key={c.name} className={c.status === 'unhealthy' ? 'bad-text' : 'warn-text'}>
                {c.name}: {c.message}
              </p>
            ))}
        </section>
        <section className="card" aria-labelledby="card-lock">
          <h2 id="card-lock">Operation lock</h2>
          <ErrorMessage error={status.error} />
          {lock ? (
            lock.holder ? (
              <p>
                Held by <strong>{lock.holder.operation}</strong>
                {lock.holder.snapshot_id ? ` of ${lock.holder.snapshot_id}` : ''} — pid {lock.holder.pid} on {lock.holder.host}, since {formatAge(lock.holder.started_at)}
              </p>
            ) : (
              <p>Free: no operation is running.</p>
            )
          ) : null}
          <p className="muted small">
            Running job: {h?.active_job ?? 'none'}
            {h?.server ? ` · this page is served by ${h.server}` : ''}
          </p>
        </section>
      </div>

      <section aria-labelledby="stage-title">
        <h2 id="stage-title">Pipeline stage</h2>
        <ErrorMessage error={pipeline.error} />
        {pipeline.data ? (
          <>
            <p>
              Stage <span className="badge">{pipeline.data.stage}</span>
              {pipeline.data.updated_at ? <span className="muted"> since {formatAge(pipeline.data.updated_at)}</span> : null}
            </p>
            <table aria-label="Row counts" className="compact">
              <thead>
                <tr>
                  <th scope="col">Table</th>
                  <th scope="col" className="num">
                    Rows
                  </th>
                </tr>
              </thead>
              <tbody>
                {Object.entries(pipeline.data.counts).map(([k, v]) => (
                  <tr key={k}>
                    <td>{k.replaceAll('_', ' ')}</td>
                    <td className="num">{formatNumber(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
      </section>

      <IndexCheckPanel />
    </>
  );
}

function latestText(value: unknown): string {
  const v = value as { id?: string; completed_at?: string } | null;
  return v?.id ? `${v.id}, ${formatAge(v.completed_at)}` : 'none yet';
}

/** Missing, stale and orphan points, and the button that runs the fix (an incremental sync). */
export function IndexCheckPanel() {
  const api = useApi();
  const checkQuery = useQuery({ queryKey: ['index-check'], queryFn: api.indexCheck });
  const [jobId, setJobId] = useState<string | null>(null);
  const job = useJob(jobId);
  const fix = useMutation({ mutationFn: () => api.indexSync(false), onSuccess: (r) => setJobId(r.job_id) });
  const c = checkQuery.data;
  return (
    <section aria-labelledby="check-title">
      <h2 id="check-title">Index check</h2>
      {checkQuery.isPending ? <Loading what="the index check" /> : null}
      <ErrorMessage error={checkQuery.error} />
      {c ? (
        <>
          <p>
            <span className={`badge ${c.ok ? 'ok' : 'warn'}`}>{c.ok ? 'consistent' : 'out of line'}</span> {formatNumber(c.controls)} controls, {formatNumber(c.points)} points
            {c.model_mismatch ? ` — ${c.model_mismatch}` : ''}
          </p>
          <table aria-label="Index check" className="compact">
            <thead>
              <tr>
                <th scope="col">Missing</th>
                <th scope="col">Stale</th>
                <th scope="col">Orphan</th>
              </tr>
            </thead>
            <tbody>
              <tr>
                <td>{formatNumber(c.missing.count)}</td>
                <td>{formatNumber(c.stale.count)}</td>
                <td>{formatNumber(c.orphan.count)}</td>
              </tr>
            </tbody>
          </table>
        </>
      ) : null}
      <div className="actions">
        <ActionButton action="indexSync" className={c && !c.ok ? 'primary' : ''} onClick={() => fix.mutate()} disabled={fix.isPending}>
          Fix index
        </ActionButton>
        <button type="button" onClick={() => void checkQuery.refetch()} disabled={checkQuery.isFetching}>
          Check again
        </button>
      </div>
      <ErrorMessage error={fix.error} title="Index sync" />
      {job.data ? <JobProgress job={job.data} /> : null}
    </section>
  );
}
