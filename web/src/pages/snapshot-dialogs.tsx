/** The dialogs of the Snapshots page: create, restore, delete, verify, prune, undo. */
import { DiffSummary } from './diff-summary';
import { useMutation, useQuery } from '@tanstack/react-query';
import { useEffect, useState, type FormEvent } from 'react';
import { isFinished, useJob } from '../api/queries';
import type { SnapshotSummary } from '../api/types';
import { ActionButton } from '../components/action-button';
import { Dialog } from '../components/dialog';
import { ErrorMessage } from '../components/error-message';
import { JobProgress } from '../components/job-progress';
import { Loading } from '../components/loading';
import { formatBytes, formatNumber, parseTags } from '../format';
import { useApi } from '../session';

export function CreateDialog({ onClose }: { onClose: () => void }) {
  const api = useApi();
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [tags, setTags] = useState('');
  const [full, setFull] = useState(false);
  const create = useMutation({ mutationFn: api.createSnapshot });
  const job = useJob(create.data?.job_id);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate({ name: name.trim(), ...(description.trim() ? { description: description.trim() } : {}), tags: parseTags(tags), full });
  };
  return (
    <Dialog title="Create snapshot" onClose={onClose}>
      {!create.data ? (
        <form onSubmit={submit} className="form">
          <label htmlFor="snap-name">Name</label>
          <input id="snap-name" value={name} onChange={(e) => setName(e.target.value)} required maxLength={200} autoFocus />
          <label htmlFor="snap-description">Description</label>
          <textarea id="snap-description" value={description} onChange={(e) => setDescription(e.target.value)} maxLength={2000} rows={3} />
          <label htmlFor="snap-tags">Tags</label>
          <input id="snap-tags" value={tags} onChange={(e) => setTags(e.target.value)} aria-describedby="snap-tags-help" />
          <p id="snap-tags-help" className="muted small">
            Separated by commas or spaces. <code>pinned</code> is kept forever, <code>pre-deployment</code> for 30 days.
          </p>
          <label className="check">
            <input type="checkbox" checked={full} onChange={(e) => setFull(e.target.checked)} /> Full snapshot
          </label>
          <p className="muted small">A full snapshot also captures the vector index and the ingested files, and restores them with the database.</p>
          <ErrorMessage error={create.error} title="Create failed" />
          <div className="actions">
            <button type="submit" className="primary" disabled={create.isPending || name.trim() === ''}>
              Create
            </button>
            <button type="button" onClick={onClose}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <>
          <p>
            Snapshot <strong>{create.data.snapshot_id}</strong> {job.data?.status === 'completed' ? 'completed.' : job.data?.status === 'failed' ? 'failed.' : 'is being taken; the database stays online.'}
          </p>
          {job.data ? <JobProgress job={job.data} /> : <Loading what="the job" />}
          <div className="actions">
            <button type="button" onClick={onClose} className={isFinished(job.data) ? 'primary' : ''}>
              Close
            </button>
          </div>
        </>
      )}
    </Dialog>
  );
}

/** Says what the restore will do before it does it; the job's progress shows once it starts. */
export function RestoreDialog({ snapshot, onClose, onStarted }: { snapshot: SnapshotSummary; onClose: () => void; onStarted: (jobId: string) => void }) {
  const api = useApi();
  const plan = useQuery({ queryKey: ['restore-plan', snapshot.id], queryFn: () => api.restorePlan(snapshot.id), staleTime: 0 });
  const [backup, setBackup] = useState(true);
  const [force, setForce] = useState(false);
  const [resync, setResync] = useState(false);
  const restore = useMutation({
    mutationFn: () => api.restore(snapshot.id, { skip_backup: !backup, force, resync }),
    onSuccess: (r) => {
      onStarted(r.job_id);
      onClose();
    },
  });
  const p = plan.data;
  const blocked = !p || !p.schema.restorable || (p.schema.force_required && !force);
  return (
    <Dialog title={`Restore ${snapshot.id}`} onClose={onClose} wide>
      {plan.isPending ? <Loading what="what the restore would do" /> : null}
      <ErrorMessage error={plan.error} />
      {p ? (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            restore.mutate();
          }}
        >
          <p>
            The live database will be replaced by <strong>{p.snapshot_id}</strong> “{p.name}”: {formatNumber(p.rows)} rows in {p.tables} tables, pipeline stage{' '}
            <strong>{p.pipeline_stage ?? 'unknown'}</strong>. It is restored into a staging database and checked first; the live database is swapped in one step and is never
            half-restored. The database it replaces is kept, so <em>Undo last restore</em> puts it back.
          </p>
          <h3>What it changes</h3>
          <DiffSummary id={p.snapshot_id} since={snapshot.created_at} />
          {p.replaces_undo ? <p className="warn-text">Undo will then bring back today's database: the one kept by the previous restore is dropped.</p> : null}

          <label className="check">
            <input type="checkbox" checked={backup} onChange={(e) => setBackup(e.target.checked)} /> Pre-restore backup
          </label>
          <p className="muted small">{backup ? 'The current database is first saved as a snapshot tagged pre-restore.' : 'No backup snapshot: only undo can bring the current state back.'}</p>

          <h3>Schema</h3>
          <dl className="facts">
            <dt>Snapshot</dt>
            <dd>{p.schema.snapshot ?? '(none)'}</dd>
            <dt>This server</dt>
            <dd>{p.schema.code}</dd>
          </dl>
          <p className={p.schema.relation === 'same' ? 'muted' : p.schema.restorable ? 'warn-text' : 'bad-text'}>{p.schema.explanation}</p>
          {p.schema.force_required ? (
            <label className="check">
              <input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} /> Force: migrate the restored copy to {p.schema.code}
            </label>
          ) : null}

          <h3>Index and files</h3>
          {p.resync_offered ? (
            <>
              <p className="muted">This snapshot holds the database only: the vector index and the ingested files stay as they are. The report afterwards says what no longer matches.</p>
              <label className="check">
                <input type="checkbox" checked={resync} onChange={(e) => setResync(e.target.checked)} /> Resync index
              </label>
              <p className="muted small">Brings the vector index in line with the restored controls, incrementally, in the same operation.</p>
            </>
          ) : (
            <p className="muted">This full snapshot also restores the vector index and the ingested files, together with the database.</p>
          )}
          <ErrorMessage error={restore.error} title="Restore refused" />
          <div className="actions sticky">
            <ActionButton action="restore" type="submit" className="danger" disabled={blocked || restore.isPending}>
              Restore
            </ActionButton>
            <button type="button" onClick={onClose}>
              Cancel
            </button>
          </div>
        </form>
      ) : null}
    </Dialog>
  );
}

export function DeleteDialog({ snapshot, onClose }: { snapshot: SnapshotSummary; onClose: () => void }) {
  const api = useApi();
  const [typed, setTyped] = useState('');
  const del = useMutation({ mutationFn: () => api.deleteSnapshot(snapshot.id) });
  return (
    <Dialog title={`Delete ${snapshot.id}`} onClose={onClose}>
      {del.data ? (
        <>
          <p role="status">
            Deleted {del.data.id}; {formatBytes(del.data.freed_bytes)} freed.
          </p>
          <div className="actions">
            <button type="button" className="primary" onClick={onClose}>
              Close
            </button>
          </div>
        </>
      ) : (
        <form
          className="form"
          onSubmit={(e) => {
            e.preventDefault();
            del.mutate();
          }}
        >
          <p>
            “{snapshot.name}” ({formatBytes(snapshot.total_bytes)}) is removed for good. Its id is never reused. Type <strong>{snapshot.id}</strong> to confirm.
          </p>
          <label htmlFor="delete-id">Snapshot id</label>
          <input id="delete-id" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" spellCheck={false} autoFocus />
          <ErrorMessage error={del.error} title="Delete failed" />
          <div className="actions">
            <ActionButton action="delete" type="submit" className="danger" disabled={typed.trim() !== snapshot.id || del.isPending}>
              Delete
            </ActionButton>
            <button type="button" onClick={onClose}>
              Cancel
            </button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

export function VerifyDialog({ snapshot, onClose }: { snapshot: SnapshotSummary; onClose: () => void }) {
  const api = useApi();
  const verify = useMutation({ mutationFn: (deep: boolean) => api.verify(snapshot.id, deep) });
  const { mutate } = verify;
  useEffect(() => mutate(false), [mutate]);
  const r = verify.data;
  return (
    <Dialog title={`Verify ${snapshot.id}`} onClose={onClose} wide>
      {verify.isPending ? <Loading what="checksums" /> : null}
      <ErrorMessage error={verify.error} title="Verify failed" />
      {r ? (
        <>
          <p role="status" className={r.ok ? 'ok-text' : 'bad-text'}>
            {r.ok ? `Intact: ${r.files_checked} files, ${formatBytes(r.bytes_checked)} match their SHA-256.` : `Not intact: ${r.problems.length} problem(s) in ${r.files_checked} files.`}
          </p>
          {r.problems.length ? (
            <ul className="problems">
              {r.problems.map((p) => (
                <li key={p}>{p}</li>
              ))}
            </ul>
          ) : null}
          <div className="scroll">
            <table aria-label="Verified files">
              <thead>
                <tr>
                  <th scope="col">File</th>
                  <th scope="col" className="num">
                    Size
                  </th>
                  <th scope="col">Result</th>
                </tr>
              </thead>
              <tbody>
                {(r.files ?? []).map((f) => (
                  <tr key={f.path}>
                    <td>
                      <code>{f.path}</code>
                    </td>
                    <td className="num">{formatBytes(f.size)}</td>
                    <td className={f.ok ? 'ok-text' : 'bad-text'}>{f.ok ? 'ok' : f.problem}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
      <div className="actions">
        <ActionButton action="deepVerify" onClick={() => verify.mutate(true)} disabled={verify.isPending}>
          Deep verify
        </ActionButton>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </div>
      <p className="muted small">Deep verify also restores the archive into a scratch database and compares every table's row count.</p>
    </Dialog>
  );
}

/** The retention policy: first the dry-run list, then, on confirmation, the same plan applied. */
export function PruneDialog({ onClose }: { onClose: () => void }) {
  const api = useApi();
  const preview = useQuery({ queryKey: ['prune-preview'], queryFn: () => api.prune(true), staleTime: 0, gcTime: 0 });
  const apply = useMutation({ mutationFn: () => api.prune(false) });
  const shown = apply.data ?? preview.data;
  return (
    <Dialog title="Prune snapshots" onClose={onClose} wide>
      {preview.isPending ? <Loading what="the retention plan" /> : null}
      <ErrorMessage error={preview.error} />
      {shown ? (
        <>
          <p role="status">
            {apply.data
              ? `Deleted ${apply.data.deleted.length} snapshot(s), ${formatBytes(apply.data.freed_bytes)} freed.`
              : shown.deleted.length
                ? `The retention policy would delete ${shown.deleted.length} snapshot(s) and free ${formatBytes(shown.freed_bytes)}; ${shown.kept.length} are kept.`
                : `Nothing to prune: all ${shown.kept.length} snapshot(s) are kept by the retention policy.`}
          </p>
          {shown.deleted.length ? (
            <table aria-label={apply.data ? 'Deleted snapshots' : 'Snapshots to delete'}>
              <thead>
                <tr>
                  <th scope="col">ID</th>
                  <th scope="col">Name</th>
                  <th scope="col" className="num">
                    Size
                  </th>
                </tr>
              </thead>
              <tbody>
                {shown.deleted.map((d) => (
                  <tr key={d.id}>
                    <td>{d.id}</td>
                    <td>{d.name}</td>
                    <td className="num">{formatBytes(d.bytes)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          ) : null}
          <details>
            <summary>Kept ({shown.kept.length})</summary>
            <ul>
              {shown.kept.map((k) => (
                <li key={k.id}>
                  {k.id} “{k.name}” — {k.reasons.join(', ') || 'kept'}
                </li>
              ))}
            </ul>
          </details>
        </>
      ) : null}
      <ErrorMessage error={apply.error} title="Prune failed" />
      <div className="actions">
        {!apply.data ? (
          <ActionButton action="prune" className="danger" onClick={() => apply.mutate()} disabled={!preview.data || preview.data.deleted.length === 0 || apply.isPending}>
            Delete {preview.data?.deleted.length ?? 0} snapshot(s)
          </ActionButton>
        ) : null}
        <button type="button" onClick={onClose}>
          {apply.data ? 'Close' : 'Cancel'}
        </button>
      </div>
    </Dialog>
  );
}

export function UndoDialog({ snapshotId, onClose, onStarted }: { snapshotId: string; onClose: () => void; onStarted: (jobId: string) => void }) {
  const api = useApi();
  const undo = useMutation({
    mutationFn: api.undo,
    onSuccess: (r) => {
      onStarted(r.job_id);
      onClose();
    },
  });
  return (
    <Dialog title="Undo last restore" onClose={onClose}>
      <p>
        This puts back the database that the restore of <strong>{snapshotId}</strong> replaced, by rename, in about a second. The restored state is kept in its place, so
        undoing again redoes the restore.
      </p>
      <ErrorMessage error={undo.error} title="Undo refused" />
      <div className="actions">
        <ActionButton action="undo" className="danger" onClick={() => undo.mutate()} disabled={undo.isPending}>
          Undo
        </ActionButton>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
    </Dialog>
  );
}
