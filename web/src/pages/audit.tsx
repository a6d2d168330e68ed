/**
 * The audit trail (admins): who did what, when, from where, and how it ended, newest first,
 * page by page. Other roles are told why they cannot see it instead of a failing request.
 */
import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import type { AuditEntry } from '../api/types';
import { ErrorMessage } from '../components/error-message';
import { Empty, Loading } from '../components/loading';
import { formatTime } from '../format';
import { deniedReason } from '../permissions';
import { useApi, useSession } from '../session';

const PAGE = 50;

function who(e: AuditEntry): string {
  return e.actor_kind === 'cli' ? `cli (${e.actor_name})` : `${e.actor_name} (${e.actor_role ?? e.actor_kind})`;
}

export function Audit() {
  const { role } = useSession();
  const denied = deniedReason(role, 'viewAudit');
  return (
    <>
      <h1>Audit</h1>
      {denied ? <p role="status">{denied}</p> : <AuditTable />}
    </>
  );
}

function AuditTable() {
  const api = useApi();
  // The cursors of the pages seen so far: the first page has none.
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];
  const q = useQuery({ queryKey: ['audit', cursor ?? ''], queryFn: () => api.audit({ limit: PAGE, cursor }), refetchInterval: cursor === undefined ? 5000 : false });
  const page = q.data;
  return (
    <section aria-labelledby="audit-title">
      <h2 id="audit-title">Actions</h2>
      {q.isPending ? <Loading what="the audit trail" /> : null}
      <ErrorMessage error={q.error} />
      {page && page.entries.length === 0 ? <Empty>Nothing has been recorded yet.</Empty> : null}
      {page && page.entries.length ? (
        <div className="scroll">
          <table aria-label="Audit trail">
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Who</th>
                <th scope="col">Action</th>
                <th scope="col">Target</th>
                <th scope="col">From</th>
                <th scope="col">Outcome</th>
                <th scope="col">Job</th>
              </tr>
            </thead>
            <tbody>
              {page.entries.map((e) => (
                <tr key={e.audit_id}>
                  <td title={e.at}>{formatTime(e.at)}</td>
                  <td>{who(e)}</td>
                  <td>{e.action}</td>
                  <td>{e.target ?? '—'}</td>
                  <td title={e.request_id ? `request ${e.request_id}` : undefined}>{e.client_ip ?? e.host}</td>
                  <td>
                    <span className={`badge status-${e.status}`}>{e.status}</span>
                    {e.error_code ? <code className="error-code"> {e.error_code}</code> : null}
                  </td>
                  <td>{e.job_id ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <nav className="pager" aria-label="Audit pages">
        <button type="button" onClick={() => setCursors(cursors.slice(0, -1))} disabled={cursors.length === 1}>
          Newer
        </button>
        <button type="button" onClick={() => page?.next_cursor && setCursors([...cursors, page.next_cursor])} disabled={!page?.next_cursor}>
          Older
        </button>
      </nav>
    </section>
  );
}
