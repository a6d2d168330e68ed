-- Up Migration

-- A job can be cancelled (`nfr job cancel`, the API, the console): a queued one at once, a
-- running one at its next safe point. The request is a row change, so it reaches the server that
-- runs the job whichever server took it: that server polls its job's row while it runs.
-- `cancelled_by` says who asked (the token's role and name, or `cli` and the OS user).
alter table nfr_job drop constraint nfr_job_status_check;
alter table nfr_job add constraint nfr_job_status_check check (status in ('pending', 'running', 'completed', 'failed', 'cancelled'));
alter table nfr_job add column cancel_requested_at timestamptz;
alter table nfr_job add column cancelled_by text;

-- Down Migration

update nfr_job set status = 'failed' where status = 'cancelled';
alter table nfr_job drop column cancelled_by;
alter table nfr_job drop column cancel_requested_at;
alter table nfr_job drop constraint nfr_job_status_check;
alter table nfr_job add constraint nfr_job_status_check check (status in ('pending', 'running', 'completed', 'failed'));
