import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '../components/error-message';
import { Empty, Loading } from '../components/loading';
import { Link, navigate } from '../router';
import { useApi } from '../session';

const MODES = [
  ['', 'Hybrid (keywords and meaning, ids first)'],
  ['keyword', 'Keyword'],
  ['semantic', 'Semantic'],
  ['id', 'Control id'],
] as const;

/**
 * The query, mode and family filter are in the URL (`/search?q=...&mode=...&family=...`): a
 * search can be reloaded, shared and gone back to.
 */
export function Search({ q, mode, family }: { q: string; mode: string; family: string }) {
  const api = useApi();
  const [text, setText] = useState(q);
  const [chosenMode, setMode] = useState(mode);
  const [chosenFamily, setFamily] = useState(family);
  const results = useQuery({ queryKey: ['search', q, mode, family], queryFn: () => api.search(q, { mode: mode || undefined, family: family || undefined }), enabled: q.trim() !== '' });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const next = text.trim();
    const params = new URLSearchParams();
    if (next) params.set('q', next);
    if (chosenMode) params.set('mode', chosenMode);
    if (chosenFamily.trim()) params.set('family', chosenFamily.trim());
    const s = params.toString();
    navigate(next ? `/search?${s}` : '/search');
  };
  const r = results.data;
  return (
    <>
      <h1>Search</h1>
      <form role="search" onSubmit={submit} className="search-form">
        <label htmlFor="search-q">Search controls</label>
        <input id="search-q" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="e.g. multi-factor authentication for privileged accounts" autoFocus />
        <label htmlFor="search-mode">Mode</label>
        <select id="search-mode" value={chosenMode} onChange={(e) => setMode(e.target.value)}>
          {MODES.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
        <label htmlFor="search-family">Family</label>
        <input id="search-family" type="text" size={6} value={chosenFamily} onChange={(e) => setFamily(e.target.value)} placeholder="e.g. AC" />
        <button type="submit" className="primary">
          Search
        </button>
      </form>
      {results.isFetching && !r ? <Loading what="results" /> : null}
      <ErrorMessage error={results.error} title="Search" />
      {r?.warnings.map((w) => (
        <p key={w} className="warn-text">
          {w}
        </p>
      ))}
      {r && r.results.length === 0 ? <Empty>No control matches “{r.query}”.</Empty> : null}
      {r && r.results.length ? (
        <table aria-label="Search results">
          <thead>
            <tr>
              <th scope="col">Control</th>
              <th scope="col">Title</th>
              <th scope="col">Family</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Score
              </th>
            </tr>
          </thead>
          <tbody>
            {r.results.map((hit) => (
              <tr key={hit.control_id}>
                <td>
                  <Link href={`/controls/${encodeURIComponent(hit.control_id)}`}>{hit.control_id}</Link>
                </td>
                <td>{hit.title}</td>
                <td>{hit.family_id ?? '—'}</td>
                <td>{hit.status ?? '—'}</td>
                <td className="num">{hit.score.toFixed(3)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {!q ? <p className="muted">Type a question in plain words, or a control id.</p> : null}
    </>
  );
}
