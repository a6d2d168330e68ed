import { useQuery } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { DiffSummary } from './diff-summary';
import { ErrorMessage } from '../components/error-message';
import { Loading } from '../components/loading';
import { formatBytes, formatDuration, formatNumber, formatTime } from '../format';
import { Link } from '../router';
import { useApi } from '../session';

/** One snapshot's manifest: versions, contents, the row count of every table, every file. */
export function ManifestView({ id }: { id: string }) {
  const api = useApi();
  const q = useQuery({ queryKey: ['snapshots', id], queryFn: () => api.snapshot(id) });
  const m = q.data;
  const ref = useRef<HTMLElement>(null);
  // The manifest renders under the whole list: opening one brings it into view.
  useEffect(() => ref.current?.scrollIntoView({ block: 'start' }), [id]);
  return (
    <section aria-labelledby="manifest-title" className="manifest" ref={ref}>
      <h2 id="manifest-title">Manifest {id}</h2>
      <p>
        <Link href="/snapshots">Close manifest</Link>
      </p>
      <Compare id={id} />
      {q.isPending ? <Loading what="the manifest" /> : null}
      <ErrorMessage error={q.error} />
      {m ? (
        <>
          <dl className="facts two-col">
            <dt>Name</dt>
            <dd>{m.name}</dd>
            <dt>Description</dt>
            <dd>{m.description ?? '—'}</dd>
            <dt>Tags</dt>
            <dd>{m.tags.join(', ') || '—'}</dd>
            <dt>Kind</dt>
            <dd>
              {m.kind} (database{m.contains.vector_index ? ', vector index' : ''}
              {m.contains.ingested_files ? ', ingested files' : ''})
            </dd>
            <dt>Created</dt>
            <dd>
              {formatTime(m.created_at)} in {formatDuration(m.duration_ms)}
            </dd>
            <dt>Schema version</dt>
            <dd>{m.schema_version ?? '(none)'}</dd>
            <dt>Pipeline stage</dt>
            <dd>{m.pipeline_stage ?? '—'}</dd>
            <dt>Server version</dt>
            <dd>PostgreSQL {m.database.server_version}</dd>
            <dt>pg_dump</dt>
            <dd>{m.database.pg_dump_version}</dd>
            <dt>Database</dt>
            <dd>
              {m.database.name}, {formatBytes(m.database.size_bytes)} on the server
            </dd>
            <dt>Archive</dt>
            <dd>
              {formatBytes(m.total_bytes)} in {m.files.length} files
            </dd>
            {m.index ? (
              <>
                <dt>Index</dt>
                <dd>
                  {m.index.backend ?? ''} {m.index.model ?? ''} {m.index.points !== undefined ? `${formatNumber(m.index.points)} points` : ''}
                </dd>
              </>
            ) : null}
          </dl>
          <h3>Tables</h3>
          <div className="scroll short">
            <table aria-label="Table row counts">
              <thead>
                <tr>
                  <th scope="col">Table</th>
                  <th scope="col" className="num">
                    Rows
                  </th>
                </tr>
              </thead>
              <tbody>
                {m.tables.map((t) => (
                  <tr key={`${t.schema}.${t.name}`}>
                    <td>
                      {t.schema}.{t.name}
                    </td>
                    <td className="num">{formatNumber(t.rows)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <details>
            <summary>Files ({m.files.length})</summary>
            <div className="scroll short">
              <table aria-label="Files">
                <thead>
                  <tr>
                    <th scope="col">Path</th>
                    <th scope="col" className="num">
                      Size
                    </th>
                    <th scope="col">SHA-256</th>
                  </tr>
                </thead>
                <tbody>
                  {m.files.map((f) => (
                    <tr key={f.path}>
                      <td>
                        <code>{f.path}</code>
                      </td>
                      <td className="num">{formatBytes(f.size)}</td>
                      <td>
                        <code title={f.sha256}>{f.sha256.slice(0, 16)}…</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        </>
      ) : null}
    </section>
  );
}

/** Compares the snapshot with live or another snapshot: what restoring it over that would change. */
function Compare({ id }: { id: string }) {
  const api = useApi();
  const list = useQuery({ queryKey: ['snapshots'], queryFn: api.snapshots });
  const [to, setTo] = useState<string | null>(null);
  const [choice, setChoice] = useState('live');
  const created = list.data?.snapshots.find((s) => s.id === id)?.created_at ?? null;
  return (
    <section aria-label="Compare" className="compare">
      <form
        className="actions"
        onSubmit={(e) => {
          e.preventDefault();
          setTo(choice);
        }}
      >
        <label>
          Compare with{' '}
          <select value={choice} onChange={(e) => setChoice(e.target.value)}>
            <option value="live">live</option>
            {list.data?.snapshots
              .filter((s) => s.id !== id)
              .map((s) => (
                <option key={s.id} value={s.id}>
                  {s.id} {s.name}
                </option>
              ))}
          </select>
        </label>
        <button type="submit">Compare</button>
      </form>
      {to ? <DiffSummary key={to} id={id} to={to} since={to === 'live' ? created : null} /> : null}
    </section>
  );
}
