-- Up Migration

-- The record of every upload batch (controls CSV or context run), beside the jobs: a restore
-- replaces the live database and never this one, so an upload accepted while a restore runs,
-- or one whose run is rolled back (`pipeline run --rollback-on-failure`), keeps its record.
-- Versions in the live database name their upload by id (`upload_id`), without a foreign key.
-- `host` and `pid` name the process that runs the batch, so recovery can fail the batch of a
-- process that died instead of leaving it `running`.
create table nfr_upload (
  upload_id         text        primary key check (upload_id ~ '^UPL-[0-9]{4}-[0-9]{4,}$'),
  kind              text        not null check (kind in ('controls', 'context')),
  original_filename text        null,
  stored_path       text        null,
  size_bytes        bigint      null check (size_bytes >= 0),
  sha256            text        null check (sha256 ~ '^[0-9a-f]{64}$'),
  status            text        not null default 'pending'
                                check (status in ('pending', 'running', 'completed', 'failed')),
  rows_inserted     integer     not null default 0 check (rows_inserted >= 0),
  rows_updated      integer     not null default 0 check (rows_updated >= 0),
  rows_unchanged    integer     not null default 0 check (rows_unchanged >= 0),
  rows_closed       integer     not null default 0 check (rows_closed >= 0),
  rows_rejected     integer     not null default 0 check (rows_rejected >= 0),
  errors            jsonb       not null default '[]'::jsonb,
  database          text        null,
  host              text        null,
  pid               integer     null,
  created_at        timestamptz not null default now(),
  started_at        timestamptz null,
  finished_at       timestamptz null,
  constraint nfr_upload_finished_after_started_check
    check (finished_at is null or started_at is null or finished_at >= started_at)
);
create index nfr_upload_created on nfr_upload (created_at desc, upload_id desc);
create index nfr_upload_unfinished on nfr_upload (status) where status in ('pending', 'running');

-- Last upload number handed out per year: numbers are never reused, whatever is restored.
create table nfr_upload_sequence (
  year       integer primary key,
  last_value integer not null check (last_value > 0)
);

-- Down Migration

drop table nfr_upload_sequence;
drop table nfr_upload;
