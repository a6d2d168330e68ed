-- Up Migration

-- The control database (`<live>_nfr`): what every server shares and no restore replaces. The job
-- queue itself is pg-boss's, in its own schema `pgboss` (it migrates that schema itself); these
-- tables hold what a client polls (progress, step, counts, errors, result) and who is alive.

-- One row per running `nfr serve`, refreshed every NFR_HEARTBEAT_SECONDS. A row whose
-- `stale_after` has passed belongs to a server that died (or hangs): any live server removes it
-- and fails the jobs it ran.
create table nfr_server (
  server_id    uuid primary key,
  host         text not null,
  pid          integer not null,
  url          text,
  version      text not null,
  started_at   timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  stale_after  timestamptz not null
);

-- One row per job, keyed by the pg-boss job id. `server_id` names the server that runs (or ran)
-- it; while it runs, its heartbeat moves `stale_after` forward with the server's.
create table nfr_job (
  job_id           uuid primary key,
  kind             text not null,
  status           text not null check (status in ('pending', 'running', 'completed', 'failed')),
  progress_percent real not null default 0 check (progress_percent between 0 and 100),
  current_step     text,
  params           jsonb not null default '{}',
  result           jsonb,
  error            jsonb,
  counts           jsonb,
  errors           jsonb not null default '[]',
  server_id        uuid,
  server           text,
  heartbeat_at     timestamptz,
  stale_after      timestamptz,
  created_at       timestamptz not null default now(),
  started_at       timestamptz,
  finished_at      timestamptz,
  updated_at       timestamptz not null default now()
);

create index nfr_job_created on nfr_job (created_at desc, job_id);
create index nfr_job_unfinished on nfr_job (status, stale_after) where status in ('pending', 'running');

-- Down Migration

drop table nfr_job;
drop table nfr_server;
