-- Up Migration

-- record_hash was written on every version and read by nothing: ingestion finds unchanged records
-- by comparing the attribute values themselves (src/ingest/versioning.ts), which is exact and
-- cheaper than building and hashing a JSON array per row. Dropping it saves that work and the
-- column's storage on every version row.

alter table src_orgs_ver_function drop column record_hash;
alter table src_orgs_ver_location drop column record_hash;
alter table src_orgs_ver_consolidated drop column record_hash;
alter table src_risks_ver_taxonomy drop column record_hash;
alter table src_risks_ver_theme drop column record_hash;
alter table src_au_ver_unit drop column record_hash;
alter table src_controls_ver_control drop column record_hash;

-- Down Migration

-- The column comes back filled with a hash of each version's whole row (not the attribute-only
-- hash 0001 wrote): nothing reads it, it only has to satisfy not null.
alter table src_orgs_ver_function add column record_hash text;
alter table src_orgs_ver_location add column record_hash text;
alter table src_orgs_ver_consolidated add column record_hash text;
alter table src_risks_ver_taxonomy add column record_hash text;
alter table src_risks_ver_theme add column record_hash text;
alter table src_au_ver_unit add column record_hash text;
alter table src_controls_ver_control add column record_hash text;
update src_orgs_ver_function t set record_hash = md5(row_to_json(t)::text);
update src_orgs_ver_location t set record_hash = md5(row_to_json(t)::text);
update src_orgs_ver_consolidated t set record_hash = md5(row_to_json(t)::text);
update src_risks_ver_taxonomy t set record_hash = md5(row_to_json(t)::text);
update src_risks_ver_theme t set record_hash = md5(row_to_json(t)::text);
update src_au_ver_unit t set record_hash = md5(row_to_json(t)::text);
update src_controls_ver_control t set record_hash = md5(row_to_json(t)::text);
alter table src_orgs_ver_function alter column record_hash set not null;
alter table src_orgs_ver_location alter column record_hash set not null;
alter table src_orgs_ver_consolidated alter column record_hash set not null;
alter table src_risks_ver_taxonomy alter column record_hash set not null;
alter table src_risks_ver_theme alter column record_hash set not null;
alter table src_au_ver_unit alter column record_hash set not null;
alter table src_controls_ver_control alter column record_hash set not null;
