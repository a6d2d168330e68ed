-- Up Migration

-- Conventions
--   src_<domain>_ref_<entity>  identity: one row per entity ever seen, never deleted.
--   src_<domain>_ver_<entity>  versioned attributes with transaction time [tx_from, tx_to);
--                              tx_to is null on the current version. A partial unique index
--                              allows at most one current version per entity.
--   src_<domain>_rel_<a>_<b>   relations with the same transaction time; at most one current
--                              row per pair.
--   record_hash                hash of a version's attribute values, so ingestion can detect an
--                              unchanged record with a set-based comparison and write nothing.
--   ai_controls_*              model outputs keyed by control and the hash of the text they were
--                              computed from, so a changed text never reuses a stale output.
-- Enumerations are text columns with check constraints rather than enum types: they are
-- changed by a later migration without the restrictions of ALTER TYPE.
-- History is closed (tx_to), never deleted, so foreign keys to ref tables never cascade.

-- ---------------------------------------------------------------------------------------------
-- Uploads, jobs, id sequences, pipeline stage
-- ---------------------------------------------------------------------------------------------

create table nfr_id_sequence (
  prefix     text    not null check (prefix ~ '^[A-Z]+$'),
  year       integer not null check (year between 1970 and 9999),
  last_value integer not null default 0 check (last_value >= 0),
  primary key (prefix, year)
);
comment on table nfr_id_sequence is 'Last number handed out per id prefix and year (UPL-YYYY-NNNN, ...); numbers are never reused.';

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
  created_at        timestamptz not null default now(),
  started_at        timestamptz null,
  finished_at       timestamptz null,
  constraint nfr_upload_finished_after_started_check
    check (finished_at is null or started_at is null or finished_at >= started_at)
);
comment on table nfr_upload is 'One row per ingestion batch (uploaded controls CSV or context folder run): stored file, status, row counts and rejected rows.';

create table nfr_ingestion_job (
  job_id           uuid        primary key default gen_random_uuid(),
  upload_id        text        null references nfr_upload (upload_id),
  kind             text        not null,
  status           text        not null default 'pending'
                               check (status in ('pending', 'running', 'completed', 'failed')),
  progress_percent real        not null default 0 check (progress_percent between 0 and 100),
  current_step     text        null,
  created_at       timestamptz not null default now(),
  started_at       timestamptz null,
  updated_at       timestamptz not null default now(),
  finished_at      timestamptz null,
  result           jsonb       null,
  error            jsonb       null,
  constraint nfr_ingestion_job_finished_after_started_check
    check (finished_at is null or started_at is null or finished_at >= started_at)
);
comment on table nfr_ingestion_job is 'Asynchronous ingestion jobs polled by the API: status, progress, result and error.';
create index nfr_ingestion_job_upload_id_idx on nfr_ingestion_job (upload_id);
-- Start-up marks jobs interrupted by a restart as failed; this finds them without a scan.
create index nfr_ingestion_job_unfinished_idx on nfr_ingestion_job (created_at)
  where status in ('pending', 'running');

create table nfr_pipeline_stage (
  id         boolean     primary key default true check (id),
  stage      text        not null default 'clean'
                         check (stage in ('clean', 'context', 'controls', 'indexed')),
  counts     jsonb       not null default '{}'::jsonb,
  updated_at timestamptz not null default now()
);
comment on table nfr_pipeline_stage is 'Single row: the furthest pipeline stage the database has reached, recorded in snapshots.';
insert into nfr_pipeline_stage (id, stage) values (true, 'clean');

-- ---------------------------------------------------------------------------------------------
-- Organizations: function tree
-- ---------------------------------------------------------------------------------------------

create table src_orgs_ref_function (
  function_id text        primary key,
  created_at  timestamptz not null default now()
);
comment on table src_orgs_ref_function is 'Organization functions: one row per function id ever ingested.';

create table src_orgs_ver_function (
  version_id  bigint      generated always as identity primary key,
  function_id text        not null references src_orgs_ref_function (function_id),
  id_type     text        null,
  id_status   text        null,
  name        text        not null,
  record_hash text        not null,
  upload_id   text        null references nfr_upload (upload_id),
  tx_from     timestamptz not null default now(),
  tx_to       timestamptz null,
  constraint src_orgs_ver_function_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_orgs_ver_function is 'Versioned attributes of organization functions (type, status, name) in transaction time.';
create unique index src_orgs_ver_function_current_key on src_orgs_ver_function (function_id)
  where tx_to is null;
create index src_orgs_ver_function_history_idx on src_orgs_ver_function (function_id, tx_from);
create index src_orgs_ver_function_upload_id_idx on src_orgs_ver_function (upload_id);

create table src_orgs_rel_function_child (
  parent_id text        not null references src_orgs_ref_function (function_id),
  child_id  text        not null references src_orgs_ref_function (function_id),
  upload_id text        null references nfr_upload (upload_id),
  tx_from   timestamptz not null default now(),
  tx_to     timestamptz null,
  primary key (parent_id, child_id, tx_from),
  constraint src_orgs_rel_function_child_not_self_check check (parent_id <> child_id),
  constraint src_orgs_rel_function_child_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_orgs_rel_function_child is 'Parent/child edges of the function tree (out_id) in transaction time.';
create unique index src_orgs_rel_function_child_current_key on src_orgs_rel_function_child (parent_id, child_id)
  where tx_to is null;
create index src_orgs_rel_function_child_child_id_idx on src_orgs_rel_function_child (child_id);
create index src_orgs_rel_function_child_upload_id_idx on src_orgs_rel_function_child (upload_id);

-- ---------------------------------------------------------------------------------------------
-- Organizations: location tree
-- ---------------------------------------------------------------------------------------------

create table src_orgs_ref_location (
  location_id text        primary key,
  created_at  timestamptz not null default now()
);
comment on table src_orgs_ref_location is 'Organization locations: one row per location id ever ingested.';

create table src_orgs_ver_location (
  version_id      bigint      generated always as identity primary key,
  location_id     text        not null references src_orgs_ref_location (location_id),
  id_type         text        null,
  location_name   text[]      not null default '{}',
  location_status text        null,
  record_hash     text        not null,
  upload_id       text        null references nfr_upload (upload_id),
  tx_from         timestamptz not null default now(),
  tx_to           timestamptz null,
  constraint src_orgs_ver_location_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_orgs_ver_location is 'Versioned attributes of organization locations (type, name path, status) in transaction time.';
create unique index src_orgs_ver_location_current_key on src_orgs_ver_location (location_id)
  where tx_to is null;
create index src_orgs_ver_location_history_idx on src_orgs_ver_location (location_id, tx_from);
create index src_orgs_ver_location_upload_id_idx on src_orgs_ver_location (upload_id);

create table src_orgs_rel_location_child (
  parent_id text        not null references src_orgs_ref_location (location_id),
  child_id  text        not null references src_orgs_ref_location (location_id),
  upload_id text        null references nfr_upload (upload_id),
  tx_from   timestamptz not null default now(),
  tx_to     timestamptz null,
  primary key (parent_id, child_id, tx_from),
  constraint src_orgs_rel_location_child_not_self_check check (parent_id <> child_id),
  constraint src_orgs_rel_location_child_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_orgs_rel_location_child is 'Parent/child edges of the location tree (out_id) in transaction time.';
create unique index src_orgs_rel_location_child_current_key on src_orgs_rel_location_child (parent_id, child_id)
  where tx_to is null;
create index src_orgs_rel_location_child_child_id_idx on src_orgs_rel_location_child (child_id);
create index src_orgs_rel_location_child_upload_id_idx on src_orgs_rel_location_child (upload_id);

-- ---------------------------------------------------------------------------------------------
-- Organizations: consolidated tree
-- ---------------------------------------------------------------------------------------------

create table src_orgs_ref_consolidated (
  consolidated_id text        primary key,
  created_at      timestamptz not null default now()
);
comment on table src_orgs_ref_consolidated is 'Nodes of the consolidated organization tree (location_id of consolidated.jsonl): one row per id ever ingested.';

create table src_orgs_ver_consolidated (
  version_id      bigint      generated always as identity primary key,
  consolidated_id text        not null references src_orgs_ref_consolidated (consolidated_id),
  location_name   text[]      not null default '{}',
  location_status text        null,
  record_hash     text        not null,
  upload_id       text        null references nfr_upload (upload_id),
  tx_from         timestamptz not null default now(),
  tx_to           timestamptz null,
  constraint src_orgs_ver_consolidated_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_orgs_ver_consolidated is 'Versioned attributes of consolidated tree nodes (name path, status) in transaction time.';
create unique index src_orgs_ver_consolidated_current_key on src_orgs_ver_consolidated (consolidated_id)
  where tx_to is null;
create index src_orgs_ver_consolidated_history_idx on src_orgs_ver_consolidated (consolidated_id, tx_from);
create index src_orgs_ver_consolidated_upload_id_idx on src_orgs_ver_consolidated (upload_id);

create table src_orgs_rel_consolidated_child (
  parent_id text        not null references src_orgs_ref_consolidated (consolidated_id),
  child_id  text        not null references src_orgs_ref_consolidated (consolidated_id),
  upload_id text        null references nfr_upload (upload_id),
  tx_from   timestamptz not null default now(),
  tx_to     timestamptz null,
  primary key (parent_id, child_id, tx_from),
  constraint src_orgs_rel_consolidated_child_not_self_check check (parent_id <> child_id),
  constraint src_orgs_rel_consolidated_child_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_orgs_rel_consolidated_child is 'Parent/child edges of the consolidated tree (out_id) in transaction time.';
create unique index src_orgs_rel_consolidated_child_current_key on src_orgs_rel_consolidated_child (parent_id, child_id)
  where tx_to is null;
create index src_orgs_rel_consolidated_child_child_id_idx on src_orgs_rel_consolidated_child (child_id);
create index src_orgs_rel_consolidated_child_upload_id_idx on src_orgs_rel_consolidated_child (upload_id);

-- ---------------------------------------------------------------------------------------------
-- Risks: taxonomies and risk themes
-- ---------------------------------------------------------------------------------------------

create table src_risks_ref_taxonomy (
  taxonomy_id text        primary key,
  created_at  timestamptz not null default now()
);
comment on table src_risks_ref_taxonomy is 'Risk taxonomies: one row per taxonomy id ever ingested.';

create table src_risks_ver_taxonomy (
  version_id  bigint      generated always as identity primary key,
  taxonomy_id text        not null references src_risks_ref_taxonomy (taxonomy_id),
  name        text        not null,
  description text        null,
  record_hash text        not null,
  upload_id   text        null references nfr_upload (upload_id),
  tx_from     timestamptz not null default now(),
  tx_to       timestamptz null,
  constraint src_risks_ver_taxonomy_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_risks_ver_taxonomy is 'Versioned attributes of risk taxonomies (name, description) in transaction time.';
create unique index src_risks_ver_taxonomy_current_key on src_risks_ver_taxonomy (taxonomy_id)
  where tx_to is null;
create index src_risks_ver_taxonomy_history_idx on src_risks_ver_taxonomy (taxonomy_id, tx_from);
create index src_risks_ver_taxonomy_upload_id_idx on src_risks_ver_taxonomy (upload_id);

create table src_risks_ref_theme (
  risk_theme_id text        primary key,
  created_at    timestamptz not null default now()
);
comment on table src_risks_ref_theme is 'Risk themes: one row per risk theme id ever ingested.';

create table src_risks_ver_theme (
  version_id             bigint      generated always as identity primary key,
  risk_theme_id          text        not null references src_risks_ref_theme (risk_theme_id),
  name                   text        not null,
  description            text        null,
  mapping_considerations text        null,
  status                 text        not null check (status in ('Active', 'Expired')),
  parent_theme_id        text        null references src_risks_ref_theme (risk_theme_id),
  record_hash            text        not null,
  upload_id              text        null references nfr_upload (upload_id),
  tx_from                timestamptz not null default now(),
  tx_to                  timestamptz null,
  constraint src_risks_ver_theme_not_own_parent_check check (parent_theme_id <> risk_theme_id),
  constraint src_risks_ver_theme_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_risks_ver_theme is 'Versioned attributes of risk themes (name, description, mapping considerations, status, parent theme) in transaction time.';
create unique index src_risks_ver_theme_current_key on src_risks_ver_theme (risk_theme_id)
  where tx_to is null;
create index src_risks_ver_theme_history_idx on src_risks_ver_theme (risk_theme_id, tx_from);
create index src_risks_ver_theme_parent_theme_id_idx on src_risks_ver_theme (parent_theme_id)
  where tx_to is null;
create index src_risks_ver_theme_upload_id_idx on src_risks_ver_theme (upload_id);

create table src_risks_rel_taxonomy_theme (
  taxonomy_id   text        not null references src_risks_ref_taxonomy (taxonomy_id),
  risk_theme_id text        not null references src_risks_ref_theme (risk_theme_id),
  upload_id     text        null references nfr_upload (upload_id),
  tx_from       timestamptz not null default now(),
  tx_to         timestamptz null,
  primary key (taxonomy_id, risk_theme_id, tx_from),
  constraint src_risks_rel_taxonomy_theme_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_risks_rel_taxonomy_theme is 'Links between risk taxonomies and the risk themes they contain, in transaction time.';
create unique index src_risks_rel_taxonomy_theme_current_key on src_risks_rel_taxonomy_theme (taxonomy_id, risk_theme_id)
  where tx_to is null;
create index src_risks_rel_taxonomy_theme_risk_theme_id_idx on src_risks_rel_taxonomy_theme (risk_theme_id);
create index src_risks_rel_taxonomy_theme_upload_id_idx on src_risks_rel_taxonomy_theme (upload_id);

-- ---------------------------------------------------------------------------------------------
-- Assessment units
-- ---------------------------------------------------------------------------------------------

create table src_au_ref_unit (
  unit_id    text        primary key,
  created_at timestamptz not null default now()
);
comment on table src_au_ref_unit is 'Assessment units: one row per assessment unit id ever ingested.';

create table src_au_ver_unit (
  version_id    bigint      generated always as identity primary key,
  unit_id       text        not null references src_au_ref_unit (unit_id),
  name          text        not null,
  description   text        null,
  function_id   text        null references src_orgs_ref_function (function_id),
  location_id   text        null,
  location_type text        null,
  record_hash   text        not null,
  upload_id     text        null references nfr_upload (upload_id),
  tx_from       timestamptz not null default now(),
  tx_to         timestamptz null,
  constraint src_au_ver_unit_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_au_ver_unit is 'Versioned attributes of assessment units (name, description, function, location) in transaction time.';
comment on column src_au_ver_unit.location_id is 'Location or consolidated node, depending on location_type; hence no foreign key.';
create unique index src_au_ver_unit_current_key on src_au_ver_unit (unit_id)
  where tx_to is null;
create index src_au_ver_unit_history_idx on src_au_ver_unit (unit_id, tx_from);
create index src_au_ver_unit_function_id_idx on src_au_ver_unit (function_id)
  where tx_to is null;
create index src_au_ver_unit_location_id_idx on src_au_ver_unit (location_id)
  where tx_to is null;
create index src_au_ver_unit_upload_id_idx on src_au_ver_unit (upload_id);

-- ---------------------------------------------------------------------------------------------
-- Controls
-- ---------------------------------------------------------------------------------------------

create table src_controls_ref_control (
  control_id text        primary key,
  created_at timestamptz not null default now()
);
comment on table src_controls_ref_control is 'Controls: one row per control id ever ingested.';

create table src_controls_ver_control (
  version_id            bigint      generated always as identity primary key,
  control_id            text        not null references src_controls_ref_control (control_id),
  title                 text        not null,
  description           text        null,
  family_id             text        null,
  family                text        null,
  key_control           boolean     null,
  control_type          text        null
                                    check (control_type in ('preventative', 'detective', 'corrective')),
  execution             text        null
                                    check (execution in ('manual', 'automated', 'semi-automated')),
  frequency             text        null
                                    check (frequency in ('continuous', 'daily', 'weekly', 'monthly',
                                                         'quarterly', 'semi-annual', 'annual',
                                                         'ad-hoc', 'event-driven')),
  status                text        null
                                    check (status in ('active', 'inactive', 'draft', 'retired')),
  owner                 text        null,
  effective_date        date        null,
  review_date           date        null,
  sox_relevant          boolean     null,
  gdpr_relevant         boolean     null,
  regulatory_references text[]      not null default '{}',
  parent_control_id     text        null references src_controls_ref_control (control_id),
  owning_function_id    text        null references src_orgs_ref_function (function_id),
  owning_location_id    text        null references src_orgs_ref_location (location_id),
  text_hash             text        not null,
  record_hash           text        not null,
  upload_id             text        null references nfr_upload (upload_id),
  tx_from               timestamptz not null default now(),
  tx_to                 timestamptz null,
  constraint src_controls_ver_control_not_own_parent_check check (parent_control_id <> control_id),
  constraint src_controls_ver_control_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_controls_ver_control is 'Versioned attributes of controls (text, classification, ownership, dates, regulatory flags) in transaction time.';
comment on column src_controls_ver_control.text_hash is 'Hash of the text that is embedded; model outputs and index points are keyed by it.';
comment on column src_controls_ver_control.record_hash is 'Hash of all attribute values; equal hash on re-ingest means nothing is written.';
create unique index src_controls_ver_control_current_key on src_controls_ver_control (control_id)
  where tx_to is null;
create index src_controls_ver_control_history_idx on src_controls_ver_control (control_id, tx_from);
create index src_controls_ver_control_parent_control_id_idx on src_controls_ver_control (parent_control_id)
  where tx_to is null;
create index src_controls_ver_control_owning_function_id_idx on src_controls_ver_control (owning_function_id)
  where tx_to is null;
create index src_controls_ver_control_owning_location_id_idx on src_controls_ver_control (owning_location_id)
  where tx_to is null;
create index src_controls_ver_control_upload_id_idx on src_controls_ver_control (upload_id);

create table src_controls_rel_related_function (
  control_id  text        not null references src_controls_ref_control (control_id),
  function_id text        not null references src_orgs_ref_function (function_id),
  upload_id   text        null references nfr_upload (upload_id),
  tx_from     timestamptz not null default now(),
  tx_to       timestamptz null,
  primary key (control_id, function_id, tx_from),
  constraint src_controls_rel_related_function_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_controls_rel_related_function is 'Functions a control relates to (besides its owning function), in transaction time.';
create unique index src_controls_rel_related_function_current_key on src_controls_rel_related_function (control_id, function_id)
  where tx_to is null;
create index src_controls_rel_related_function_function_id_idx on src_controls_rel_related_function (function_id);
create index src_controls_rel_related_function_upload_id_idx on src_controls_rel_related_function (upload_id);

create table src_controls_rel_related_location (
  control_id  text        not null references src_controls_ref_control (control_id),
  location_id text        not null references src_orgs_ref_location (location_id),
  upload_id   text        null references nfr_upload (upload_id),
  tx_from     timestamptz not null default now(),
  tx_to       timestamptz null,
  primary key (control_id, location_id, tx_from),
  constraint src_controls_rel_related_location_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_controls_rel_related_location is 'Locations a control relates to (besides its owning location), in transaction time.';
create unique index src_controls_rel_related_location_current_key on src_controls_rel_related_location (control_id, location_id)
  where tx_to is null;
create index src_controls_rel_related_location_location_id_idx on src_controls_rel_related_location (location_id);
create index src_controls_rel_related_location_upload_id_idx on src_controls_rel_related_location (upload_id);

create table src_controls_rel_risk_theme (
  control_id    text        not null references src_controls_ref_control (control_id),
  risk_theme_id text        not null references src_risks_ref_theme (risk_theme_id),
  upload_id     text        null references nfr_upload (upload_id),
  tx_from       timestamptz not null default now(),
  tx_to         timestamptz null,
  primary key (control_id, risk_theme_id, tx_from),
  constraint src_controls_rel_risk_theme_tx_range_check check (tx_to is null or tx_to > tx_from)
);
comment on table src_controls_rel_risk_theme is 'Risk themes a control is linked to in the source data, in transaction time.';
create unique index src_controls_rel_risk_theme_current_key on src_controls_rel_risk_theme (control_id, risk_theme_id)
  where tx_to is null;
create index src_controls_rel_risk_theme_risk_theme_id_idx on src_controls_rel_risk_theme (risk_theme_id);
create index src_controls_rel_risk_theme_upload_id_idx on src_controls_rel_risk_theme (upload_id);

-- ---------------------------------------------------------------------------------------------
-- Model outputs, keyed by control and the hash of the text they were computed from
-- ---------------------------------------------------------------------------------------------

create table ai_controls_taxonomy_mapping (
  control_id    text        not null references src_controls_ref_control (control_id),
  text_hash     text        not null,
  risk_theme_id text        not null references src_risks_ref_theme (risk_theme_id),
  score         real        not null,
  rank          integer     not null check (rank >= 1),
  model_name    text        not null,
  model_version text        not null,
  upload_id     text        null references nfr_upload (upload_id),
  created_at    timestamptz not null default now(),
  primary key (control_id, text_hash, risk_theme_id)
);
comment on table ai_controls_taxonomy_mapping is 'Model-proposed risk themes per control text, with score and rank.';
create index ai_controls_taxonomy_mapping_risk_theme_id_idx on ai_controls_taxonomy_mapping (risk_theme_id);
create index ai_controls_taxonomy_mapping_upload_id_idx on ai_controls_taxonomy_mapping (upload_id);

create table ai_controls_enrichment (
  control_id    text        not null references src_controls_ref_control (control_id),
  text_hash     text        not null,
  summary       text        not null,
  keywords      text[]      not null default '{}',
  model_name    text        not null,
  model_version text        not null,
  upload_id     text        null references nfr_upload (upload_id),
  created_at    timestamptz not null default now(),
  primary key (control_id, text_hash)
);
comment on table ai_controls_enrichment is 'Model enrichment per control text: summary and keywords.';
create index ai_controls_enrichment_upload_id_idx on ai_controls_enrichment (upload_id);

create table ai_controls_feature_prep (
  control_id      text        not null references src_controls_ref_control (control_id),
  text_hash       text        not null,
  normalised_text text        not null,
  search_vector   tsvector    not null,
  model_name      text        not null,
  model_version   text        not null,
  upload_id       text        null references nfr_upload (upload_id),
  created_at      timestamptz not null default now(),
  primary key (control_id, text_hash)
);
comment on table ai_controls_feature_prep is 'Prepared features per control text: normalised text and full-text search vector.';
create index ai_controls_feature_prep_search_vector_idx on ai_controls_feature_prep using gin (search_vector);
create index ai_controls_feature_prep_upload_id_idx on ai_controls_feature_prep (upload_id);

create table ai_controls_embedding (
  control_id    text        not null references src_controls_ref_control (control_id),
  text_hash     text        not null,
  model_name    text        not null,
  model_version text        not null,
  dimension     integer     not null check (dimension > 0),
  vector        real[]      not null,
  upload_id     text        null references nfr_upload (upload_id),
  created_at    timestamptz not null default now(),
  primary key (control_id, text_hash),
  constraint ai_controls_embedding_vector_dimension_check
    check (array_ndims(vector) = 1 and cardinality(vector) = dimension)
);
comment on table ai_controls_embedding is 'Embedding vector per control text, with the model and dimension that produced it.';
create index ai_controls_embedding_upload_id_idx on ai_controls_embedding (upload_id);

-- Down Migration

drop table ai_controls_embedding;
drop table ai_controls_feature_prep;
drop table ai_controls_enrichment;
drop table ai_controls_taxonomy_mapping;

drop table src_controls_rel_risk_theme;
drop table src_controls_rel_related_location;
drop table src_controls_rel_related_function;
drop table src_controls_ver_control;
drop table src_controls_ref_control;

drop table src_au_ver_unit;
drop table src_au_ref_unit;

drop table src_risks_rel_taxonomy_theme;
drop table src_risks_ver_theme;
drop table src_risks_ref_theme;
drop table src_risks_ver_taxonomy;
drop table src_risks_ref_taxonomy;

drop table src_orgs_rel_consolidated_child;
drop table src_orgs_ver_consolidated;
drop table src_orgs_ref_consolidated;
drop table src_orgs_rel_location_child;
drop table src_orgs_ver_location;
drop table src_orgs_ref_location;
drop table src_orgs_rel_function_child;
drop table src_orgs_ver_function;
drop table src_orgs_ref_function;

drop table nfr_pipeline_stage;
drop table nfr_ingestion_job;
drop table nfr_upload;
drop table nfr_id_sequence;
