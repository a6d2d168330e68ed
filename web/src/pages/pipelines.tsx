import { useMutation, useQuery } from '@tanstack/react-query';
import { useRef, useState, type DragEvent, type FormEvent } from 'react';
import { useJob } from '../api/queries';
import type { Job } from '../api/types';
import { ActionButton } from '../components/action-button';
import { ErrorMessage } from '../components/error-message';
import { JobProgress } from '../components/job-progress';
import { Empty, Loading } from '../components/loading';
import { formatBytes, formatNumber, formatTime } from '../format';
import { useApi } from '../session';

export function Pipelines() {
  return (
    <>
      <h1>Pipelines</h1>
      <UploadPanel />
      <RunPanel />
      <UploadHistory />
    </>
  );
}

const COUNT_LABELS: readonly [string, string][] = [
  ['rows_read', 'Rows read'],
  ['rows_valid', 'Valid'],
  ['rows_rejected', 'Rejected'],
  ['inserted', 'Inserted'],
  ['updated', 'Updated'],
  ['unchanged', 'Unchanged'],
  ['closed', 'Closed'],
];

function UploadPanel() {
  const api = useApi();
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File | null>(null);
  const [dragging, setDragging] = useState(false);
  const [sent, setSent] = useState<{ sent: number; total: number } | null>(null);
  const upload = useMutation({
    mutationFn: (f: File) => api.uploadControls(f, (s, total) => setSent({ sent: s, total })),
  });
  const job = useJob(upload.data?.job_id);

  const choose = (f: File | null | undefined) => {
    setFile(f ?? null);
    setSent(null);
    upload.reset();
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDragging(false);
    const f = e.dataTransfer.files[0];
    if (f) choose(f);
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (file) upload.mutate(file);
  };
  return (
    <section aria-labelledby="upload-title" className="panel">
      <h2 id="upload-title">Upload controls</h2>
      <form onSubmit={submit}>
        <div
          className={dragging ? 'dropzone dragging' : 'dropzone'}
          onDragOver={(e) => {
            e.preventDefault();
            setDragging(true);
          }}
          onDragLeave={() => setDragging(false)}
          onDrop={onDrop}
        >
          <label htmlFor="controls-file">Controls CSV</label>
          <input
            id="controls-file"
            ref={input}
            type="file"
            accept=".csv,text/csv"
            onChange={(e) => choose(e.target.files?.[0])}
          />
          <p className="muted small">or drop a file here. Columns as in the README (the NIST sample's header works as published).</p>
          {file ? (
            <p>
              {file.name}, {formatBytes(file.size)}
            </p>
          ) : null}
        </div>
        <div className="actions">
          <ActionButton action="upload" type="submit" className="primary" disabled={!file || upload.isPending}>
            Upload
          </ActionButton>
        </div>
      </form>
      {sent && upload.isPending ? (
        <div>
          <progress max={sent.total || 1} value={sent.sent} aria-label="Upload progress" /> {formatBytes(sent.sent)} of {formatBytes(sent.total)} sent
        </div>
      ) : null}
      <ErrorMessage error={upload.error} title="Upload refused" />
      {upload.data ? (
        <p>
          Stored as <strong>{upload.data.upload_id}</strong>.
        </p>
      ) : null}
      {job.data ? <IngestJob job={job.data} /> : null}
    </section>
  );
}

/** An ingestion job's counts as they arrive, and a rejected batch's problems by line and field. */
function IngestJob({ job }: { job: Job }) {
  const counts = job.counts ?? {};
  const shown = COUNT_LABELS.filter(([k]) => counts[k] !== undefined);
  return (
    <div className="ingest-job">
      <JobProgress job={job} />
      {job.status === 'completed' ? <p className="ok-text">Ingested and enriched.</p> : null}
      {shown.length ? (
        <dl className="counts" aria-label="Counts">
          {shown.map(([k, label]) => (
            <div key={k}>
              <dt>{label}</dt>
              <dd>{formatNumber(counts[k])}</dd>
            </div>
          ))}
        </dl>
      ) : null}
      {job.errors.length ? (
        <>
          <h3>Validation errors</h3>
          {counts.error_count !== undefined && counts.error_count > job.errors.length ? (
            <p className="muted small">
              Showing the first {job.errors.length} of {formatNumber(counts.error_count)} problems.
            </p>
          ) : null}
          <div className="scroll short">
            <table aria-label="Validation errors">
              <thead>
                <tr>
                  <th scope="col" className="num">
                    Line
                  </th>
                  <th scope="col">Field</th>
                  <th scope="col">Message</th>
                </tr>
              </thead>
              <tbody>
                {job.errors.map((e, i) => (
                  <tr key={i}>
                    <td className="num">{e.line ?? '—'}</td>
                    <td>{e.field ?? '—'}</td>
                    <td>
                      {e.file ? `${e.file}: ` : ''}
                      {e.message}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
    </div>
  );
}

function RunPanel() {
  const api = useApi();
  const [contextJob, setContextJob] = useState<string | null>(null);
  const [syncJob, setSyncJob] = useState<string | null>(null);
  const context = useMutation({ mutationFn: api.ingestContext, onSuccess: (r) => setContextJob(r.job_id) });
  const sync = useMutation({ mutationFn: () => api.indexSync(false), onSuccess: (r) => setSyncJob(r.job_id) });
  const cj = useJob(contextJob);
  const sj = useJob(syncJob);
  return (
    <section aria-labelledby="run-title" className="panel">
      <h2 id="run-title">Run</h2>
      <p className="muted">Context ingestion reads the latest date folder of each provider under the server's CONTEXT_PROVIDERS_PATH. An index sync embeds only what changed.</p>
      <div className="actions">
        <ActionButton action="ingestContext" onClick={() => context.mutate()} disabled={context.isPending}>
          Run context ingestion
        </ActionButton>
        <ActionButton action="indexSync" onClick={() => sync.mutate()} disabled={sync.isPending}>
          Sync index
        </ActionButton>
      </div>
      <ErrorMessage error={context.error} title="Context ingestion" />
      <ErrorMessage error={sync.error} title="Index sync" />
      {cj.data ? <IngestJob job={cj.data} /> : null}
      {sj.data ? <JobProgress job={sj.data} /> : null}
    </section>
  );
}

const PAGE = 10;

function UploadHistory() {
  const api = useApi();
  const [offset, setOffset] = useState(0);
  const q = useQuery({ queryKey: ['uploads', offset], queryFn: () => api.uploads({ limit: PAGE, offset }), refetchInterval: 5000 });
  const page = q.data;
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Upload history</h2>
      {q.isPending ? <Loading what="uploads" /> : null}
      <ErrorMessage error={q.error} />
      {page && page.total === 0 ? <Empty>No uploads in this database yet.</Empty> : null}
      {page && page.uploads.length ? (
        <>
          <div className="scroll">
            <table aria-label="Uploads">
              <thead>
                <tr>
                  <th scope="col">Upload</th>
                  <th scope="col">Kind</th>
                  <th scope="col">File</th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Inserted
                  </th>
                  <th scope="col" className="num">
                    Updated
                  </th>
                  <th scope="col" className="num">
                    Unchanged
                  </th>
                  <th scope="col" className="num">
                    Closed
                  </th>
                  <th scope="col" className="num">
                    Rejected
                  </th>
                  <th scope="col">Created</th>
                </tr>
              </thead>
              <tbody>
                {page.uploads.map((u) => (
                  <tr key={u.upload_id}>
                    <td>{u.upload_id}</td>
                    <td>{u.kind}</td>
                    <td>
                      {u.original_filename ?? '—'}
                      {u.size_bytes !== null ? <span className="muted small"> {formatBytes(u.size_bytes)}</span> : null}
                    </td>
                    <td>
                      <span className={`badge status-${u.status}`}>{u.status}</span>
                    </td>
                    <td className="num">{formatNumber(u.rows_inserted)}</td>
                    <td className="num">{formatNumber(u.rows_updated)}</td>
                    <td className="num">{formatNumber(u.rows_unchanged)}</td>
                    <td className="num">{formatNumber(u.rows_closed)}</td>
                    <td className="num">{formatNumber(u.rows_rejected)}</td>
                    <td title={u.created_at}>{formatTime(u.created_at)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <nav className="pager" aria-label="Upload history pages">
            <button type="button" onClick={() => setOffset(Math.max(0, offset - PAGE))} disabled={offset === 0}>
              Newer
            </button>
            <span>
              {offset + 1}–{offset + page.uploads.length} of {page.total}
            </span>
            <button type="button" onClick={() => setOffset(offset + PAGE)} disabled={offset + PAGE >= page.total}>
              Older
            </button>
          </nav>
        </>
      ) : null}
    </section>
  );
}
