import { useQuery } from '@tanstack/react-query';
import { useMemo, useState } from 'react';
import { useActiveJobs } from '../api/queries';
import type { Job, SnapshotSummary } from '../api/types';
import { ActionButton } from '../components/action-button';
import { ErrorMessage } from '../components/error-message';
import { Empty, Loading } from '../components/loading';
import { formatAge, formatBytes, formatDuration, formatTime, matchesFilter } from '../format';
import { navigate } from '../router';
import { useApi, useSession } from '../session';
import { LastRestore } from './last-restore';
import { ManifestView } from './manifest';
import { Schedules } from './schedules';
import { CreateDialog, DeleteDialog, PruneDialog, RestoreDialog, VerifyDialog } from './snapshot-dialogs';

type Open = { kind: 'create' } | { kind: 'prune' } | { kind: 'restore' | 'verify' | 'delete'; snapshot: SnapshotSummary } | null;

export function Snapshots({ selected }: { selected: string | null }) {
  const api = useApi();
  const { role } = useSession();
  const list = useQuery({ queryKey: ['snapshots'], queryFn: api.snapshots, refetchInterval: 10000 });
  const active = useActiveJobs();
  const [text, setText] = useState('');
  const [tag, setTag] = useState('');
  const [open, setOpen] = useState<Open>(null);
  const [restoreJob, setRestoreJob] = useState<string | null>(null);

  const snapshots = useMemo(() => [...(list.data?.snapshots ?? [])].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id)), [list.data]);
  const tags = useMemo(() => [...new Set(snapshots.flatMap((s) => s.tags))].sort(), [snapshots]);
  const shown = snapshots.filter((s) => matchesFilter(s, text, tag));
  // Creates still running are not in the catalog yet (they write into .tmp): shown as rows too.
  const creating = (active.data ?? []).filter((j): j is Extract<Job, { kind: 'snapshot.create' }> => j.kind === 'snapshot.create' && !snapshots.some((s) => s.id === j.params.snapshot_id));

  return (
    <>
      <h1>Snapshots</h1>
      {role !== 'admin' ? (
        <p className="notice">
          Your token has the <strong>{role}</strong> role: Restore, Delete, Prune and Undo need admin{role === 'reader' ? ', Create needs operator' : ''}.
        </p>
      ) : null}
      <LastRestore startedJob={restoreJob} onStarted={setRestoreJob} />
      <div className="toolbar">
        <ActionButton action="create" className="primary" onClick={() => setOpen({ kind: 'create' })}>
          Create snapshot
        </ActionButton>
        <ActionButton action="prune" onClick={() => setOpen({ kind: 'prune' })}>
          Prune
        </ActionButton>
        <span className="spacer" />
        <label htmlFor="snap-filter">Filter</label>
        <input id="snap-filter" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="id, name, description" />
        <label htmlFor="snap-tag">Tag</label>
        <select id="snap-tag" value={tag} onChange={(e) => setTag(e.target.value)}>
          <option value="">any tag</option>
          {tags.map((t) => (
            <option key={t} value={t}>
              {t}
            </option>
          ))}
        </select>
      </div>
      {list.isPending ? <Loading what="snapshots" /> : null}
      <ErrorMessage error={list.error} title="Snapshots" />
      {list.data?.damaged.length ? (
        <div role="alert" className="error">
          Damaged snapshot directories (not listed):{' '}
          {list.data.damaged.map((d) => (
            <span key={d.id}>
              {d.id}: {d.problem}{' '}
            </span>
          ))}
        </div>
      ) : null}
      {list.data ? (
        <div className="scroll">
          <table aria-label="Snapshots" className="snapshots">
            <thead>
              <tr>
                <th scope="col">ID</th>
                <th scope="col">Name</th>
                <th scope="col">Tags</th>
                <th scope="col">Stage</th>
                <th scope="col">Kind</th>
                <th scope="col" className="num">
                  Size
                </th>
                <th scope="col">Location</th>
                <th scope="col">Created</th>
                <th scope="col" className="num">
                  Duration
                </th>
                <th scope="col">Status</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {creating.map((j) => (
                <tr key={j.job_id} className="pending-row">
                  <td>{j.params.snapshot_id}</td>
                  <td>{j.params.name}</td>
                  <td>{j.params.tags.join(', ')}</td>
                  <td />
                  <td>{j.params.full ? 'full' : 'postgres'}</td>
                  <td className="num">—</td>
                  <td />
                  <td>{formatAge(j.created_at)}</td>
                  <td className="num">—</td>
                  <td>
                    <span className={`badge status-${j.status}`}>{j.status}</span> {Math.round(j.progress_percent)} %
                  </td>
                  <td />
                </tr>
              ))}
              {shown.map((s) => (
                <tr key={s.id} aria-selected={selected === s.id} className={selected === s.id ? 'selected' : undefined} onClick={() => navigate(`/snapshots/${s.id}`)}>
                  <td>
                    <a
                      href={`/snapshots/${s.id}`}
                      onClick={(e) => {
                        e.preventDefault();
                      }}
                    >
                      {s.id}
                    </a>
                  </td>
                  <td>
                    {s.name}
                    {s.description ? <div className="muted small">{s.description}</div> : null}
                  </td>
                  <td>
                    {s.tags.map((t) => (
                      <span key={t} className="tag">
                        {t}
                      </span>
                    ))}
                  </td>
                  <td>{s.pipeline_stage ?? '—'}</td>
                  <td>{s.kind}</td>
                  <td className="num">{formatBytes(s.total_bytes)}</td>
                  <td title={s.location === 'offsite' ? 'Only in the offsite repository: a restore downloads it first' : undefined}>{s.location ?? 'local'}</td>
                  <td title={s.created_at}>{formatTime(s.created_at)}</td>
                  <td className="num">{formatDuration(s.duration_ms)}</td>
                  <td>
                    <span className={`badge status-${s.status}`}>{s.status}</span>
                    {s.warm ? (
                      <span className="badge warm" title={`A ready copy (${formatBytes(s.warm.size_bytes)}) is kept on the database server: restoring it is a file copy`}>
                        warm
                      </span>
                    ) : null}
                  </td>
                  <td className="row-actions" onClick={(e) => e.stopPropagation()}>
                    <ActionButton action="restore" onClick={() => setOpen({ kind: 'restore', snapshot: s })}>
                      Restore
                    </ActionButton>
                    <ActionButton action="verify" onClick={() => setOpen({ kind: 'verify', snapshot: s })}>
                      Verify
                    </ActionButton>
                    <ActionButton action="delete" onClick={() => setOpen({ kind: 'delete', snapshot: s })}>
                      Delete
                    </ActionButton>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {list.data && shown.length === 0 && creating.length === 0 ? (
        <Empty>{snapshots.length === 0 ? 'No snapshots yet. Create one to have a point to roll back to.' : 'No snapshot matches the filter.'}</Empty>
      ) : null}
      {selected ? <ManifestView id={selected} /> : <p className="muted small">Select a snapshot to see its manifest.</p>}
      <Schedules />

      {open?.kind === 'create' ? <CreateDialog onClose={() => setOpen(null)} /> : null}
      {open?.kind === 'prune' ? <PruneDialog onClose={() => setOpen(null)} /> : null}
      {open?.kind === 'restore' ? <RestoreDialog snapshot={open.snapshot} onClose={() => setOpen(null)} onStarted={setRestoreJob} /> : null}
      {open?.kind === 'verify' ? <VerifyDialog snapshot={open.snapshot} onClose={() => setOpen(null)} /> : null}
      {open?.kind === 'delete' ? (
        <DeleteDialog
          snapshot={open.snapshot}
          onClose={() => {
            setOpen(null);
            if (selected === open.snapshot.id) navigate('/snapshots', { replace: true });
          }}
        />
      ) : null}
    </>
  );
}
