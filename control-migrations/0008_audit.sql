-- Up Migration

-- The audit trail: one row per state-changing action (a snapshot created, restored, deleted; an
-- upload; a schedule changed ...), by whom, from where, and how it ended. It lives in the control
-- database so that a restore, which replaces the live database, never rewrites who restored it.
-- Never a token: `actor_name` is the token's name from API_TOKENS (or the OS user for `cli`).
create table nfr_audit (
  audit_id    bigint generated always as identity primary key,
  at          timestamptz not null default now(),
  finished_at timestamptz,
  actor_kind  text not null check (actor_kind in ('token', 'cli', 'server')),
  actor_name  text not null,
  actor_role  text,
  action      text not null,
  target      text,
  params      jsonb not null default '{}',
  client_ip   text,
  host        text not null,
  request_id  text,
  status      text not null default 'started' check (status in ('started', 'succeeded', 'failed')),
  error_code  text,
  job_id      uuid
);

create index nfr_audit_at on nfr_audit (at);
create index nfr_audit_job on nfr_audit (job_id) where status = 'started';

-- An action that queued a job ends when the job does, whichever server (or path: the runner, a
-- live server failing a dead one's jobs, a cancel) ends it. A trigger, so that no path that
-- finishes a job can forget its audit row, and both change in one transaction.
create function nfr_audit_job_ended() returns trigger language plpgsql as $$
begin
  update nfr_audit
     set status = case when new.status = 'completed' then 'succeeded' else 'failed' end,
         error_code = case when new.status = 'completed' then null else coalesce(new.error ->> 'code', upper(new.status)) end,
         finished_at = coalesce(new.finished_at, now())
   where job_id = new.job_id and status = 'started';
  return null;
end $$;

create trigger nfr_job_ended after update of status on nfr_job
  for each row when (new.status in ('completed', 'failed', 'cancelled') and old.status is distinct from new.status)
  execute function nfr_audit_job_ended();

-- Down Migration

drop trigger nfr_job_ended on nfr_job;
drop function nfr_audit_job_ended();
drop table nfr_audit;
