-- Up Migration

-- The record of uploads moved to the control database (control-migrations/0004_uploads.sql),
-- where restores cannot replace it. Versions and model outputs keep their upload id, without a
-- foreign key to a table a restore may replace: an upload accepted while a restore ran would
-- otherwise fail on that key once it ran against the restored database. nfr_upload and
-- nfr_id_sequence stay, read-only, as the history of the uploads before this migration (and of
-- restored older snapshots): the first upload after it copies their rows to the control database.
do $$
declare
  fk record;
begin
  for fk in
    select c.conrelid::regclass as tbl, c.conname
      from pg_constraint c
     where c.contype = 'f' and c.confrelid = 'nfr_upload'::regclass
  loop
    execute format('alter table %s drop constraint %I', fk.tbl, fk.conname);
  end loop;
end
$$;

-- Down Migration

-- The keys come back NOT VALID: versions written since name uploads recorded only in the
-- control database.
do $$
declare
  t text;
begin
  foreach t in array array[
    'nfr_ingestion_job', 'src_orgs_ver_function', 'src_orgs_rel_function_child', 'src_orgs_ver_location',
    'src_orgs_rel_location_child', 'src_orgs_ver_consolidated', 'src_orgs_rel_consolidated_child',
    'src_risks_ver_taxonomy', 'src_risks_ver_theme', 'src_risks_rel_taxonomy_theme', 'src_au_ver_unit',
    'src_controls_ver_control', 'src_controls_rel_related_function', 'src_controls_rel_related_location',
    'src_controls_rel_risk_theme', 'ai_controls_taxonomy_mapping', 'ai_controls_enrichment',
    'ai_controls_feature_prep', 'ai_controls_embedding']
  loop
    execute format('alter table %I add constraint %I foreign key (upload_id) references nfr_upload (upload_id) not valid', t, t || '_upload_id_fkey');
  end loop;
end
$$;
