-- Up Migration

-- Snapshot schedules (`nfr schedule add`), run by every `nfr serve` sharing this database: each
-- server looks for due ticks every NFR_SCHEDULE_CHECK_SECONDS, and a tick is taken by moving
-- `last_tick_at` forward in the transaction that queues its job, under the schedule row's lock,
-- so each tick is handled exactly once however many servers look.
create table nfr_schedule (
  name         text primary key check (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  cron         text not null,
  tz           text not null,
  full_snapshot boolean not null default false,
  warm         boolean not null default false,
  tags         jsonb not null default '[]',
  prune        boolean not null default false,
  paused       boolean not null default false,
  created_at   timestamptz not null default now(),
  created_by   text not null,
  updated_at   timestamptz not null default now(),
  -- The latest tick handled (queued, skipped or missed); ticks after it are due.
  last_tick_at timestamptz not null default now()
);

-- What happened at each tick: `queued` (its job says the rest), `skipped` (the previous run was
-- still queued or running), `missed` (no server was up at the time; `missed_ticks` of them).
-- Kept with the schedule's name even after it is removed, for the history.
create table nfr_schedule_run (
  run_id       bigint generated always as identity primary key,
  schedule     text not null,
  tick_at      timestamptz not null,
  outcome      text not null check (outcome in ('queued', 'skipped', 'missed')),
  job_id       uuid,
  reason       text,
  missed_ticks integer not null default 1,
  recorded_at  timestamptz not null default now(),
  -- When the alerting took it (skipped and missed alert once, by whichever server claims them).
  alerted_at   timestamptz
);

create index nfr_schedule_run_schedule on nfr_schedule_run (schedule, tick_at desc);
create index nfr_schedule_run_unalerted on nfr_schedule_run (recorded_at) where alerted_at is null and outcome <> 'queued';

-- Down Migration

drop table nfr_schedule_run;
drop table nfr_schedule;
