/**
 * The entities a diff speaks of, in the data's own terms: each is a versioned table with
 * transaction time ([tx_from, tx_to), tx_to null on the current version) keyed by its id.
 */
export const DIFF_ENTITIES = [
  { entity: 'controls', table: 'src_controls_ver_control', key: 'control_id' },
  { entity: 'functions', table: 'src_orgs_ver_function', key: 'function_id' },
  { entity: 'locations', table: 'src_orgs_ver_location', key: 'location_id' },
  { entity: 'risk_themes', table: 'src_risks_ver_theme', key: 'risk_theme_id' },
  { entity: 'assessment_units', table: 'src_au_ver_unit', key: 'unit_id' },
] as const;

export type DiffEntity = (typeof DIFF_ENTITIES)[number]['entity'];
export type EntityTable = (typeof DIFF_ENTITIES)[number];

/**
 * What a restore does to one entity id: `removes` (in the target now, not in the snapshot: added
 * since), `brings_back` (in the snapshot, closed since), `reverts` (in both, attributes changed).
 */
export const DIFF_CHANGES = ['removes', 'brings_back', 'reverts'] as const;
export type DiffChange = (typeof DIFF_CHANGES)[number];

/** Columns that say when and from where a version came, not what it says: never compared. */
export const META_COLUMNS = ['version_id', 'tx_from', 'tx_to', 'upload_id', 'record_hash'] as const;
