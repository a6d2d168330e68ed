-- Up Migration

-- Alert state, shared by every server: each server checks the conditions (a stale snapshot, a
-- filling backup volume, ...) at least once a minute, and the one whose check changes a row's
-- `firing` (an atomic update) is the one that tells the webhooks, once when the condition starts
-- and once when it resolves.
create table nfr_alert (
  key        text primary key,
  firing     boolean not null,
  severity   text not null check (severity in ('info', 'warning', 'critical')),
  summary    text not null,
  details    jsonb not null default '{}',
  changed_at timestamptz not null default now()
);

-- One-off events (a failed job, a restore that left the index out of date) are claimed the same
-- way: the server that sets `alerted_at` sends them. Jobs that ended before alerting existed are
-- not announced now.
alter table nfr_job add column alerted_at timestamptz;
update nfr_job set alerted_at = now() where status in ('completed', 'failed', 'cancelled');
create index nfr_job_unalerted on nfr_job (finished_at) where alerted_at is null and status in ('completed', 'failed');

-- Down Migration

drop index nfr_job_unalerted;
alter table nfr_job drop column alerted_at;
drop table nfr_alert;
