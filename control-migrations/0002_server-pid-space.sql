-- Up Migration

-- The kernel boot and pid namespace a server's pid belongs to (Linux): a server that sees the
-- same one can tell for certain that the pid is gone, without waiting for missed heartbeats.
-- Null (other systems, servers of 0001) means only the heartbeat tells.
alter table nfr_server add column pid_space text;

-- Down Migration

alter table nfr_server drop column pid_space;
