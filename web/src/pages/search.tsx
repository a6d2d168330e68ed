import { useQuery } from '@tanstack/react-query';
import { useState, type FormEvent } from 'react';
import { ErrorMessage } from '../components/error-message';
import { Empty, Loading } from '../components/loading';
import { Link, navigate } from '../router';
import { useApi } from '../session';

/** The query is in the URL (`/search?q=...`): a search can be reloaded, shared and gone back to. */
export function Search({ q }: { q: string }) {
  const api = useApi();
  const [text, setText] = useState(q);
  const results = useQuery({ queryKey: ['search', q], queryFn: () => api.search(q), enabled: q.trim() !== '' });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const next = text.trim();
    navigate(next ? `/search?q=${encodeURIComponent(next)}` : '/search');
  };
  const r = results.data;
  return (
    <>
      <h1>Search</h1>
      <form role="search" onSubmit={submit} className="search-form">
        <label htmlFor="search-q">Search controls</label>
        <input id="search-q" type="search" value={text} onChange={(e) => setText(e.target.value)} placeholder="e.g. multi-factor authentication for privileged accounts" autoFocus />
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
