import { useQuery } from '@tanstack/react-query';
import { Fragment, useState, type FormEvent } from 'react';
import type { Named } from '../api/types';
import { ErrorMessage } from '../components/error-message';
import { Loading } from '../components/loading';
import { formatTime } from '../format';
import { navigate } from '../router';
import { useApi } from '../session';

const HIDDEN = new Set(['text_hash', 'upload_id', 'tx_from', 'tx_to', 'owning_function_id', 'owning_location_id', 'title', 'description']);

function show(value: unknown): string {
  if (value === null || value === undefined || value === '') return '—';
  if (Array.isArray(value)) return value.length ? value.join(', ') : '—';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

const named = (n: Named | null) => (n ? `${n.id}${n.name ? ` — ${n.name}` : ''}` : '—');

/** A control's attributes, owners, risk themes, enrichment and history; `?as_of=` shows an earlier state. */
export function ControlView({ id, asOf }: { id: string; asOf: string | null }) {
  const api = useApi();
  const q = useQuery({ queryKey: ['control', id, asOf], queryFn: () => api.control(id, asOf ?? undefined) });
  const [when, setWhen] = useState(asOf ?? '');
  const c = q.data;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const base = `/controls/${encodeURIComponent(id)}`;
    navigate(when.trim() ? `${base}?as_of=${encodeURIComponent(when.trim())}` : base);
  };
  return (
    <>
      <p>
        <button type="button" className="link" onClick={() => window.history.back()}>
          ← Back
        </button>
      </p>
      <h1>
        Control {id}
        {c ? <span className="subtitle"> {String(c.attributes.title ?? '')}</span> : null}
      </h1>
      <form onSubmit={submit} className="inline-form">
        <label htmlFor="as-of">As of</label>
        <input id="as-of" value={when} onChange={(e) => setWhen(e.target.value)} placeholder="2026-11-30T12:00:00Z (empty: now)" />
        <button type="submit">Show</button>
      </form>
      {q.isPending ? <Loading what="the control" /> : null}
      <ErrorMessage error={q.error} />
      {c ? (
        <>
          {asOf ? <p className="notice">As it was at {formatTime(c.as_of)}.</p> : null}
          {c.attributes.description ? <p className="description">{String(c.attributes.description)}</p> : null}
          <section aria-labelledby="attr-title">
            <h2 id="attr-title">Attributes</h2>
            <dl className="facts two-col">
              <dt>Owning function</dt>
              <dd>{named(c.owning_function)}</dd>
              <dt>Owning location</dt>
              <dd>{named(c.owning_location)}</dd>
              {Object.entries(c.attributes)
                .filter(([k]) => !HIDDEN.has(k))
                .map(([k, v]) => (
                  <Fragment key={k}>
                    <dt>{k.replaceAll('_', ' ')}</dt>
                    <dd>{show(v)}</dd>
                  </Fragment>
                ))}
              <dt>Version since</dt>
              <dd>{formatTime(String(c.attributes.tx_from ?? ''))}</dd>
            </dl>
          </section>
          <section aria-labelledby="themes-title">
            <h2 id="themes-title">Risk themes</h2>
            {c.risk_themes.length ? (
              <ul>
                {c.risk_themes.map((t) => (
                  <li key={t.id}>
                    {named(t)} {t.status ? <span className="muted">({t.status})</span> : null}
                  </li>
                ))}
              </ul>
            ) : (
              <p className="muted">No linked risk themes.</p>
            )}
            {c.related_functions.length ? <p>Related functions: {c.related_functions.map(named).join('; ')}</p> : null}
            {c.related_locations.length ? <p>Related locations: {c.related_locations.map(named).join('; ')}</p> : null}
          </section>
          <section aria-labelledby="enrich-title">
            <h2 id="enrich-title">Enrichment</h2>
            {c.enrichment ? (
              <>
                <p>{c.enrichment.summary}</p>
                <p>
                  Keywords: {c.enrichment.keywords.join(', ') || '—'} <span className="muted small">({c.enrichment.model})</span>
                </p>
                {c.enrichment.taxonomy_mapping.length ? (
                  <table aria-label="Taxonomy mapping">
                    <thead>
                      <tr>
                        <th scope="col">Rank</th>
                        <th scope="col">Risk theme</th>
                        <th scope="col" className="num">
                          Score
                        </th>
                      </tr>
                    </thead>
                    <tbody>
                      {c.enrichment.taxonomy_mapping.map((m) => (
                        <tr key={m.risk_theme_id}>
                          <td>{m.rank}</td>
                          <td>
                            {m.risk_theme_id}
                            {m.name ? ` — ${m.name}` : ''}
                          </td>
                          <td className="num">{m.score.toFixed(3)}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                ) : null}
              </>
            ) : (
              <p className="muted">No enrichment for the current text yet.</p>
            )}
          </section>
          <section aria-labelledby="history-title">
            <h2 id="history-title">History</h2>
            <table aria-label="Version history">
              <thead>
                <tr>
                  <th scope="col">From</th>
                  <th scope="col">To</th>
                  <th scope="col">Title</th>
                  <th scope="col">Status</th>
                  <th scope="col">Upload</th>
                </tr>
              </thead>
              <tbody>
                {c.history.map((h) => (
                  <tr key={h.version_id}>
                    <td title={h.tx_from}>{formatTime(h.tx_from)}</td>
                    <td title={h.tx_to ?? ''}>{h.tx_to ? formatTime(h.tx_to) : 'current'}</td>
                    <td>{h.title}</td>
                    <td>{h.status ?? '—'}</td>
                    <td>{h.upload_id ?? '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        </>
      ) : null}
    </>
  );
}
