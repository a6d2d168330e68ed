-- Up Migration

-- When a job's work passed its last safe point by committing (an ingestion's batch): written by
-- the job's commit gate in the transaction that holds the job's row lock while the batch commits
-- (runtime/cancel.ts), so a cancel request is ordered before the commit (the batch is not
-- written, the job ends cancelled) or after it (the job completes, the cancel came too late).
alter table nfr_job add column committed_at timestamptz;

-- Down Migration

alter table nfr_job drop column committed_at;
