import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState, type FormEvent } from 'react';
import type { Schedule, ScheduleRun } from '../api/types';
import { ActionButton } from '../components/action-button';
import { ErrorMessage } from '../components/error-message';
import { Empty, Loading } from '../components/loading';
import { formatTime, parseTags } from '../format';
import { useApi } from '../session';

/** The last run as one line: its snapshot, its error, or why it was skipped or missed. */
function lastRun(r: ScheduleRun | null): string {
  if (!r) return 'never';
  const at = formatTime(r.tick_at);
  if (r.outcome !== 'queued') return `${at}: ${r.outcome}${r.missed_ticks > 1 ? ` (${r.missed_ticks} ticks)` : ''} — ${r.reason ?? ''}`;
  if (r.job_status === 'completed') return `${at}: ${r.snapshot_id ?? 'completed'}`;
  if (r.job_status === 'failed' || r.job_status === 'cancelled') return `${at}: ${r.job_status} — ${r.error?.code ?? ''} ${r.error?.message ?? ''}`;
  return `${at}: ${r.job_status ?? 'queued'}`;
}

/** Snapshot schedules: readers see them, admins add, pause, resume and remove them. */
export function Schedules() {
  const api = useApi();
  const client = useQueryClient();
  const list = useQuery({ queryKey: ['schedules'], queryFn: api.schedules, refetchInterval: 10000 });
  const refresh = () => void client.invalidateQueries({ queryKey: ['schedules'] });
  const pause = useMutation({ mutationFn: (s: { name: string; paused: boolean }) => api.pauseSchedule(s.name, s.paused), onSuccess: refresh });
  const remove = useMutation({ mutationFn: (name: string) => api.removeSchedule(name), onSuccess: refresh });
  return (
    <section aria-labelledby="schedules-title" className="schedules">
      <h2 id="schedules-title">Schedules</h2>
      {list.isPending ? <Loading what="schedules" /> : null}
      <ErrorMessage error={list.error} title="Schedules" />
      <ErrorMessage error={pause.error ?? remove.error} title="Schedule" />
      {list.data && list.data.schedules.length === 0 ? <Empty>No schedules: snapshots are taken only when someone asks.</Empty> : null}
      {list.data && list.data.schedules.length > 0 ? (
        <div className="scroll">
          <table aria-label="Schedules">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Cron</th>
                <th scope="col">Time zone</th>
                <th scope="col">Options</th>
                <th scope="col">Next run</th>
                <th scope="col">Last run</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {list.data.schedules.map((s: Schedule) => (
                <tr key={s.name}>
                  <td>{s.name}</td>
                  <td>
                    <code>{s.cron}</code>
                  </td>
                  <td>{s.tz}</td>
                  <td>{[s.full ? 'full' : '', s.warm ? 'warm' : '', s.prune ? 'prune' : '', ...s.tags].filter(Boolean).join(', ') || '—'}</td>
                  <td title={s.next_run_at ?? undefined}>{s.paused ? <span className="badge">paused</span> : formatTime(s.next_run_at)}</td>
                  <td>{lastRun(s.last_run)}</td>
                  <td className="row-actions">
                    <ActionButton action="changeSchedules" onClick={() => pause.mutate({ name: s.name, paused: !s.paused })}>
                      {s.paused ? 'Resume' : 'Pause'}
                    </ActionButton>
                    <ActionButton action="changeSchedules" onClick={() => remove.mutate(s.name)}>
                      Remove
                    </ActionButton>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      <AddSchedule onAdded={refresh} />
    </section>
  );
}

function AddSchedule({ onAdded }: { onAdded: () => void }) {
  const api = useApi();
  const id = useId();
  const [name, setName] = useState('');
  const [cron, setCron] = useState('');
  const [tz, setTz] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC');
  const [tags, setTags] = useState('');
  const [full, setFull] = useState(false);
  const [warm, setWarm] = useState(false);
  const [prune, setPrune] = useState(false);
  const add = useMutation({
    mutationFn: () => api.addSchedule({ name, cron, tz, tags: parseTags(tags), full, warm, prune }),
    onSuccess: () => {
      setName('');
      setCron('');
      onAdded();
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    add.mutate();
  };
  return (
    <form className="add-schedule" onSubmit={submit} aria-label="Add schedule">
      <label htmlFor={`${id}-name`}>Name</label>
      <input id={`${id}-name`} value={name} onChange={(e) => setName(e.target.value)} required placeholder="nightly" />
      <label htmlFor={`${id}-cron`}>Cron</label>
      <input id={`${id}-cron`} value={cron} onChange={(e) => setCron(e.target.value)} required placeholder="0 2 * * *" />
      <label htmlFor={`${id}-tz`}>Time zone</label>
      <input id={`${id}-tz`} value={tz} onChange={(e) => setTz(e.target.value)} required />
      <label htmlFor={`${id}-tags`}>Tags</label>
      <input id={`${id}-tags`} value={tags} onChange={(e) => setTags(e.target.value)} placeholder="comma-separated" />
      <label>
        <input type="checkbox" checked={full} onChange={(e) => setFull(e.target.checked)} /> Full
      </label>
      <label>
        <input type="checkbox" checked={warm} onChange={(e) => setWarm(e.target.checked)} /> Warm
      </label>
      <label>
        <input type="checkbox" checked={prune} onChange={(e) => setPrune(e.target.checked)} /> Prune
      </label>
      <ActionButton action="changeSchedules" type="submit" disabled={add.isPending}>
        Add schedule
      </ActionButton>
      <ErrorMessage error={add.error} title="Add schedule" />
      {add.data ? <p role="status">Schedule {add.data.name} added; next run {formatTime(add.data.next_run_at)}.</p> : null}
    </form>
  );
}
