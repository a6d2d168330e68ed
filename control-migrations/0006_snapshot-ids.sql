-- Up Migration

-- The last snapshot number handed out per year. Servers that share one offsite repository but
-- not a backup directory take their ids from here (under an advisory lock), so no two of them
-- ever name two snapshots alike; each allocation is also seeded from the highest id found on
-- local disk and in the bucket, so a new control database never goes back on an id.
create table nfr_snapshot_sequence (
  year  integer primary key,
  last  integer not null check (last >= 0)
);

-- Down Migration

drop table nfr_snapshot_sequence;
