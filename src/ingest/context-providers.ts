/**
 * The context providers and their files: the shape of a line (zod), the staging table it is
 * copied into, the cross-line checks it needs, and how a validated staging table is written to the
 * versioned tables; the SQL of the cross-line checks is at the end. The orchestration (streaming,
 * transaction, report) lives in context.ts.
 */
import type pg from 'pg';
import { z } from 'zod';
import { escapeIdentifier as id } from '../postgres/connection.js';
import type { CopyValue } from '../postgres/copy.js';
import { applyRelations, applyVersionedEntities, type RelationCounts, type VersionCounts, type VersionedEntitySpec } from './versioning.js';

export const PROVIDERS = ['organization', 'risk_theme', 'assessment_unit'] as const;
export type ProviderName = (typeof PROVIDERS)[number];

/** Ids are opaque to us, but must be safe to show, compare and put in a path: no blanks or control characters. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$/;
const ID_MESSAGE = 'expected an id: 1 to 128 letters, digits, ".", "_", ":", "/" or "-", starting with a letter or digit';

const idField = z.string().regex(ID_PATTERN, ID_MESSAGE);
/** PostgreSQL text cannot hold U+0000; JSON can, so it is a bad line here rather than a failed COPY. */
const text = z.string().refine((s) => !s.includes('\u0000'), 'must not contain the NUL character (\\u0000)');
const nonBlank = text.refine((s) => s.trim() !== '', 'must not be blank');
const optionalText = text.nullish().transform((v) => v ?? null);
/** An optional reference: absent, null or "" all mean none. */
const optionalId = z
  .string()
  .refine((v) => v === '' || ID_PATTERN.test(v), ID_MESSAGE)
  .nullish()
  .transform((v) => (v ? v : null));
const idList = z.array(idField).nullish().transform((v) => v ?? []);

/** Counts of one table after versioning; relations report opened pairs as inserted. */
export interface ChangeCounts {
  readonly inserted: number;
  readonly updated: number;
  readonly unchanged: number;
  readonly closed: number;
}

/** A check that needs the whole file (or the database), run in SQL on the staging table. */
export type ReferenceCheck =
  /** Every element of an array column is the key of a line of the same file. */
  | { readonly kind: 'children'; readonly column: string; readonly field: string }
  /** A nullable column is the key of a line of the same file. */
  | { readonly kind: 'parent'; readonly column: string; readonly field: string }
  /** Lines with the same group value agree on these columns (a taxonomy repeated on each theme line). */
  | { readonly kind: 'consistent'; readonly group: string; readonly groupField: string; readonly columns: readonly { readonly column: string; readonly field: string }[] }
  /** A nullable column names a current entity of one of these versioned tables. */
  | { readonly kind: 'current'; readonly column: string; readonly field: string; readonly what: string; readonly targets: readonly { readonly table: string; readonly key: string }[] };

export interface StagingColumn {
  readonly name: string;
  readonly type: 'text' | 'text[]';
}

/** One provider file: how its lines are read, staged, checked and applied. */
export interface FileSpec {
  readonly provider: ProviderName;
  readonly file: string;
  /** Temporary staging table (dropped at commit). */
  readonly staging: string;
  /** Staging key column and the JSON field it comes from. */
  readonly key: { readonly column: string; readonly field: string };
  /** Staging columns after the key, in the order `toRow` returns them. */
  readonly columns: readonly StagingColumn[];
  readonly schema: z.ZodObject<z.ZodRawShape>;
  /** Staging values (key first, then `columns`) of a valid line. */
  toRow(line: Record<string, unknown>): readonly CopyValue[];
  readonly checks: readonly ReferenceCheck[];
  /**
   * Inserts, as kept rows, the current version of every entity that has only rejected lines in
   * the staging table, so --skip-invalid never closes an entity because its line was bad.
   * Returns the number of rows kept.
   */
  keep(client: pg.ClientBase): Promise<number>;
  /** Writes the (valid rows of the) staging table with versioning; returns counts per table. */
  apply(client: pg.ClientBase, uploadId: string | null): Promise<Record<string, ChangeCounts>>;
}

const fromRelation = (r: RelationCounts): ChangeCounts => ({ inserted: r.opened, updated: 0, unchanged: r.unchanged, closed: r.closed });
const fromVersion = (v: VersionCounts): ChangeCounts => ({ ...v });

/** Rows that have a rejected line and no valid one, and are current in `ver`. */
function keepCondition(staging: string, stagingKey: string, verAlias: string, verKey: string): string {
  const s = id(staging);
  return `${verAlias}.tx_to is null
      and exists (select 1 from ${s} x where x.${id(stagingKey)} = ${verAlias}.${id(verKey)} and not x.valid)
      and not exists (select 1 from ${s} x where x.${id(stagingKey)} = ${verAlias}.${id(verKey)} and x.valid)`;
}

interface TreeOptions {
  readonly file: string;
  readonly staging: string;
  readonly keyField: string;
  readonly entity: VersionedEntitySpec;
  readonly relation: string;
  /** Attribute columns: JSON field → staging/ver column, with types. */
  readonly attributes: readonly { readonly field: string; readonly column: string; readonly type: StagingColumn['type'] }[];
  readonly schema: z.ZodObject<z.ZodRawShape>;
}

/** functions.jsonl, locations.jsonl, consolidated.jsonl: nodes with attributes and out_id children. */
function treeFile(o: TreeOptions): FileSpec {
  const key = o.entity.key;
  const stg = id(o.staging);
  return {
    provider: 'organization',
    file: o.file,
    staging: o.staging,
    key: { column: key, field: o.keyField },
    columns: [...o.attributes.map((a) => ({ name: a.column, type: a.type })), { name: 'out_ids', type: 'text[]' }],
    schema: o.schema,
    toRow: (line) => [line[o.keyField] as string, ...o.attributes.map((a) => line[a.field] as CopyValue), line.out_id as readonly string[]],
    checks: [{ kind: 'children', column: 'out_ids', field: 'out_id' }],
    async keep(client) {
      const cols = o.attributes.map((a) => id(a.column));
      const r = await client.query(
        `insert into ${stg} (line, valid, kept, ${id(key)}, ${cols.join(', ')}, out_ids)
         select null, true, true, v.${id(key)}, ${cols.map((c) => `v.${c}`).join(', ')},
                array(select r.child_id from ${id(o.relation)} r where r.parent_id = v.${id(key)} and r.tx_to is null order by 1)
           from ${id(o.entity.ver)} v
          where ${keepCondition(o.staging, key, 'v', key)}`,
      );
      return r.rowCount ?? 0;
    },
    async apply(client, uploadId) {
      const entity = await applyVersionedEntities(client, o.entity, o.staging, { uploadId, closeMissing: true });
      const edges = `${o.staging}_edges`;
      await client.query(
        `create temp table ${id(edges)} on commit drop as
         select distinct s.${id(key)} as parent_id, c.child_id from ${stg} s cross join lateral unnest(s.out_ids) as c(child_id)`,
      );
      await client.query(`analyze ${id(edges)}`);
      const rel = await applyRelations(client, { table: o.relation, a: 'parent_id', b: 'child_id' }, edges, { uploadId, scope: 'all' });
      return { [o.entity.ver]: fromVersion(entity), [o.relation]: fromRelation(rel) };
    },
  };
}

const functionsFile = treeFile({
  file: 'functions.jsonl',
  staging: 'nfr_stg_function',
  keyField: 'id',
  entity: { ref: 'src_orgs_ref_function', ver: 'src_orgs_ver_function', key: 'function_id', columns: ['id_type', 'id_status', 'name'] },
  relation: 'src_orgs_rel_function_child',
  attributes: [
    { field: 'id_type', column: 'id_type', type: 'text' },
    { field: 'id_status', column: 'id_status', type: 'text' },
    { field: 'name', column: 'name', type: 'text' },
  ],
  schema: z.object({ id: idField, id_type: optionalText, id_status: optionalText, name: nonBlank, out_id: idList }),
});

const locationsFile = treeFile({
  file: 'locations.jsonl',
  staging: 'nfr_stg_location',
  keyField: 'id',
  entity: { ref: 'src_orgs_ref_location', ver: 'src_orgs_ver_location', key: 'location_id', columns: ['id_type', 'location_name', 'location_status'] },
  relation: 'src_orgs_rel_location_child',
  attributes: [
    { field: 'id_type', column: 'id_type', type: 'text' },
    { field: 'location_name', column: 'location_name', type: 'text[]' },
    { field: 'location_status', column: 'location_status', type: 'text' },
  ],
  schema: z.object({ id: idField, id_type: optionalText, location_name: z.array(text), location_status: optionalText, out_id: idList }),
});

const consolidatedFile = treeFile({
  file: 'consolidated.jsonl',
  staging: 'nfr_stg_consolidated',
  keyField: 'location_id',
  entity: { ref: 'src_orgs_ref_consolidated', ver: 'src_orgs_ver_consolidated', key: 'consolidated_id', columns: ['location_name', 'location_status'] },
  relation: 'src_orgs_rel_consolidated_child',
  attributes: [
    { field: 'location_name', column: 'location_name', type: 'text[]' },
    { field: 'location_status', column: 'location_status', type: 'text' },
  ],
  schema: z.object({ location_id: idField, location_name: z.array(text), location_status: optionalText, out_id: idList }),
});

const THEME: VersionedEntitySpec = {
  ref: 'src_risks_ref_theme',
  ver: 'src_risks_ver_theme',
  key: 'risk_theme_id',
  columns: ['name', 'description', 'mapping_considerations', 'status', 'parent_theme_id'],
};
const TAXONOMY: VersionedEntitySpec = { ref: 'src_risks_ref_taxonomy', ver: 'src_risks_ver_taxonomy', key: 'taxonomy_id', columns: ['name', 'description'] };
const TAXONOMY_THEME = 'src_risks_rel_taxonomy_theme';

/**
 * risk_theme.jsonl: one line per theme, with its taxonomy repeated on every line. Taxonomies and
 * the taxonomy→theme links are derived from the valid lines.
 */
const riskThemeFile: FileSpec = {
  provider: 'risk_theme',
  file: 'risk_theme.jsonl',
  staging: 'nfr_stg_theme',
  key: { column: 'risk_theme_id', field: 'risk_theme_id' },
  columns: [
    { name: 'name', type: 'text' },
    { name: 'description', type: 'text' },
    { name: 'mapping_considerations', type: 'text' },
    { name: 'status', type: 'text' },
    { name: 'parent_theme_id', type: 'text' },
    { name: 'taxonomy_id', type: 'text' },
    { name: 'taxonomy_name', type: 'text' },
    { name: 'taxonomy_description', type: 'text' },
  ],
  schema: z.object({
    taxonomy_id: idField,
    taxonomy: nonBlank,
    taxonomy_description: optionalText,
    risk_theme_id: idField,
    risk_theme: nonBlank,
    risk_theme_description: optionalText,
    risk_theme_mapping_considerations: optionalText,
    status: z.enum(['Active', 'Expired']),
    parent_id: optionalId,
  }),
  toRow: (l) =>
    [l.risk_theme_id, l.risk_theme, l.risk_theme_description, l.risk_theme_mapping_considerations, l.status, l.parent_id, l.taxonomy_id, l.taxonomy, l.taxonomy_description] as CopyValue[],
  checks: [
    { kind: 'parent', column: 'parent_theme_id', field: 'parent_id' },
    {
      kind: 'consistent',
      group: 'taxonomy_id',
      groupField: 'taxonomy_id',
      columns: [
        { column: 'taxonomy_name', field: 'taxonomy' },
        { column: 'taxonomy_description', field: 'taxonomy_description' },
      ],
    },
  ],
  async keep(client) {
    const r = await client.query(
      `insert into nfr_stg_theme (line, valid, kept, risk_theme_id, name, description, mapping_considerations, status, parent_theme_id, taxonomy_id, taxonomy_name, taxonomy_description)
       select null, true, true, v.risk_theme_id, v.name, v.description, v.mapping_considerations, v.status, v.parent_theme_id, t.taxonomy_id, tv.name, tv.description
         from src_risks_ver_theme v
         left join lateral (select r.taxonomy_id from ${TAXONOMY_THEME} r where r.risk_theme_id = v.risk_theme_id and r.tx_to is null order by 1 limit 1) t on true
         left join src_risks_ver_taxonomy tv on tv.taxonomy_id = t.taxonomy_id and tv.tx_to is null
        where ${keepCondition('nfr_stg_theme', 'risk_theme_id', 'v', 'risk_theme_id')}`,
    );
    return r.rowCount ?? 0;
  },
  async apply(client, uploadId) {
    // Taxonomies first: a theme's lines and a kept theme may name the same taxonomy; the file's lines win.
    await client.query(
      `create temp table nfr_stg_taxonomy on commit drop as
       select distinct on (taxonomy_id) taxonomy_id, taxonomy_name as name, taxonomy_description as description
         from nfr_stg_theme where taxonomy_id is not null order by taxonomy_id, line nulls last`,
    );
    await client.query('analyze nfr_stg_taxonomy');
    const taxonomies = await applyVersionedEntities(client, TAXONOMY, 'nfr_stg_taxonomy', { uploadId, closeMissing: true });
    const themes = await applyVersionedEntities(client, THEME, 'nfr_stg_theme', { uploadId, closeMissing: true });
    await client.query(
      `create temp table nfr_stg_taxonomy_theme on commit drop as
       select distinct taxonomy_id, risk_theme_id from nfr_stg_theme where taxonomy_id is not null`,
    );
    await client.query('analyze nfr_stg_taxonomy_theme');
    const links = await applyRelations(client, { table: TAXONOMY_THEME, a: 'taxonomy_id', b: 'risk_theme_id' }, 'nfr_stg_taxonomy_theme', { uploadId, scope: 'all' });
    return { [TAXONOMY.ver]: fromVersion(taxonomies), [THEME.ver]: fromVersion(themes), [TAXONOMY_THEME]: fromRelation(links) };
  },
};

const UNIT: VersionedEntitySpec = {
  ref: 'src_au_ref_unit',
  ver: 'src_au_ver_unit',
  key: 'unit_id',
  columns: ['name', 'description', 'function_id', 'location_id', 'location_type'],
};

/**
 * assessment_units.jsonl. Its function and location references are checked against the current
 * rows of the database after this run's organization files were applied in the same transaction:
 * the new functions when functions.jsonl was accepted, the previous ones when it was rejected or
 * absent. location_id may name a location or a consolidated node (location_type says which, in
 * the provider's own vocabulary, so it is not checked against a list).
 */
const assessmentUnitsFile: FileSpec = {
  provider: 'assessment_unit',
  file: 'assessment_units.jsonl',
  staging: 'nfr_stg_unit',
  key: { column: 'unit_id', field: 'id' },
  columns: [
    { name: 'name', type: 'text' },
    { name: 'description', type: 'text' },
    { name: 'function_id', type: 'text' },
    { name: 'location_id', type: 'text' },
    { name: 'location_type', type: 'text' },
  ],
  schema: z.object({ id: idField, name: nonBlank, description: optionalText, function_id: optionalId, location_id: optionalId, location_type: optionalText }),
  toRow: (l) => [l.id, l.name, l.description, l.function_id, l.location_id, l.location_type] as CopyValue[],
  checks: [
    { kind: 'current', column: 'function_id', field: 'function_id', what: 'function', targets: [{ table: 'src_orgs_ver_function', key: 'function_id' }] },
    {
      kind: 'current',
      column: 'location_id',
      field: 'location_id',
      what: 'location or consolidated node',
      targets: [
        { table: 'src_orgs_ver_location', key: 'location_id' },
        { table: 'src_orgs_ver_consolidated', key: 'consolidated_id' },
      ],
    },
  ],
  async keep(client) {
    const r = await client.query(
      `insert into nfr_stg_unit (line, valid, kept, unit_id, name, description, function_id, location_id, location_type)
       select null, true, true, v.unit_id, v.name, v.description, v.function_id, v.location_id, v.location_type
         from src_au_ver_unit v where ${keepCondition('nfr_stg_unit', 'unit_id', 'v', 'unit_id')}`,
    );
    return r.rowCount ?? 0;
  },
  async apply(client, uploadId) {
    return { [UNIT.ver]: fromVersion(await applyVersionedEntities(client, UNIT, 'nfr_stg_unit', { uploadId, closeMissing: true })) };
  },
};

/**
 * Every file, in the order they are applied: organization files before assessment units, whose
 * references are checked against the functions and locations this run leaves current.
 */
export const CONTEXT_FILES: readonly FileSpec[] = [functionsFile, locationsFile, consolidatedFile, riskThemeFile, assessmentUnitsFile];

/** Current-row counts recorded with the pipeline stage. */
export const CURRENT_COUNT_TABLES = {
  functions: 'src_orgs_ver_function',
  locations: 'src_orgs_ver_location',
  consolidated: 'src_orgs_ver_consolidated',
  taxonomies: 'src_risks_ver_taxonomy',
  risk_themes: 'src_risks_ver_theme',
  assessment_units: 'src_au_ver_unit',
} as const;

/** reject: one pass, any line of the file is a valid target; skip: repeat until no valid line refers to a rejected one. */
export type CheckMode = 'reject' | 'skip';

export interface CheckResult {
  /** Problems found (each a row of nfr_stg_errors). */
  readonly errors: number;
  /** Distinct lines rejected by these checks. */
  readonly rejectedLines: number;
  /** Entities kept at their current version (skip mode). */
  readonly kept: number;
}

/**
 * Runs the duplicate and reference checks of a staged file in SQL, writing problems to
 * nfr_stg_errors. In skip mode, rejected lines are marked invalid and the checks repeat, since
 * rejecting a line can leave another line pointing at nothing; entities with only rejected lines
 * keep their current version and count as present.
 */
export async function runChecks(client: pg.ClientBase, spec: FileSpec, file: string, mode: CheckMode): Promise<CheckResult> {
  const stg = id(spec.staging);
  const key = id(spec.key.column);
  const insert = async (sql: string): Promise<number> => (await client.query(`insert into nfr_stg_errors (file, line, field, message) ${sql}`, [file])).rowCount ?? 0;
  const markInvalid = () => client.query(`update ${stg} set valid = false where valid and line in (select line from nfr_stg_errors where file = $1)`, [file]);

  let errors = await insert(
    `select $1, s.line, ${lit(spec.key.field)}, 'duplicate ${spec.key.field} "' || s.${key} || '": first on line ' || f.first_line
       from ${stg} s join (select ${key} as k, min(line) as first_line from ${stg} where line is not null group by 1 having count(*) > 1) f on f.k = s.${key}
      where s.valid and s.line > f.first_line`,
  );
  const runCheck = async (check: ReferenceCheck, targetFilter: string): Promise<number> => {
    let n = await insert(checkSql(spec, check, targetFilter));
    // Cycle detection needs the links in an indexed table first, hence its own statement.
    const cycles = await cycleCheck(client, spec, check);
    if (cycles !== undefined) n += await insert(cycles);
    return n;
  };
  let kept = 0;
  if (mode === 'reject') {
    for (const check of spec.checks) errors += await runCheck(check, '');
  } else {
    await markInvalid();
    // Each round either finds nothing (done) or marks at least one more line invalid, so it ends.
    for (;;) {
      kept += await spec.keep(client);
      let found = 0;
      for (const check of spec.checks) found += await runCheck(check, 'and t.valid');
      errors += found;
      if (found === 0) break;
      await markInvalid();
    }
    for (const check of spec.checks) {
      if (check.kind !== 'children') continue;
      const col = id(check.column);
      await client.query(
        `update ${stg} s set ${col} = array(select c from unnest(s.${col}) c where exists (select 1 from ${stg} t where t.${key} = c and t.valid))
          where s.kept`,
      );
    }
  }
  const lines = await client.query<{ n: number }>('select count(distinct line)::int as n from nfr_stg_errors where file = $1', [file]);
  return { errors, rejectedLines: lines.rows[0]?.n ?? 0, kept };
}

const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** A select of (file, line, field, message) for one check; `targetFilter` restricts the lines a reference may point at. */
function checkSql(spec: FileSpec, check: ReferenceCheck, targetFilter: string): string {
  const stg = id(spec.staging);
  const key = id(spec.key.column);
  const keyName = lit(spec.key.field);
  switch (check.kind) {
    case 'children': {
      const col = id(check.column);
      return `select $1, s.line, ${lit(check.field)} || '.' || (c.n - 1),
                     case when c.child = s.${key} then 'lists itself as a child'
                          else 'unknown child "' || c.child || '": no ' || ${targetFilter ? "'valid '" : "''"} || 'line of this file has ' || ${keyName} || ' "' || c.child || '"' end
                from ${stg} s cross join lateral unnest(s.${col}) with ordinality as c(child, n)
               where s.line is not null and s.valid
                 and (c.child = s.${key} or not exists (select 1 from ${stg} t where t.${key} = c.child ${targetFilter}))`;
    }
    case 'parent': {
      const col = id(check.column);
      return `select $1, s.line, ${lit(check.field)},
                     case when s.${col} = s.${key} then 'is its own parent'
                          else 'unknown parent "' || s.${col} || '": no ' || ${targetFilter ? "'valid '" : "''"} || 'line of this file has ' || ${keyName} || ' "' || s.${col} || '"' end
                from ${stg} s
               where s.line is not null and s.valid and s.${col} is not null
                 and (s.${col} = s.${key} or not exists (select 1 from ${stg} t where t.${key} = s.${col} ${targetFilter}))`;
    }
    case 'consistent': {
      // A window, not a lateral lookup per line: the group column has no index.
      const group = id(check.group);
      return check.columns
        .map((c) => {
          const col = id(c.column);
          return `select $1, s.line, ${lit(c.field)},
                         ${lit(check.groupField)} || ' "' || s.${group} || '" has ' || ${lit(c.field)} || ' ' || coalesce(to_json(s.first_value)::text, 'null')
                           || ' on line ' || s.first_line || ' but ' || coalesce(to_json(s.${col})::text, 'null') || ' here'
                    from (select t.line, t.${group}, t.${col}, first_value(t.line) over w as first_line, first_value(t.${col}) over w as first_value
                            from ${stg} t where t.line is not null and t.valid
                          window w as (partition by t.${group} order by t.line)) s
                   where s.line > s.first_line and s.first_value is distinct from s.${col}`;
        })
        .join(' union all ');
    }
    case 'current': {
      const col = id(check.column);
      const known = check.targets.map((t) => `exists (select 1 from ${id(t.table)} v where v.${id(t.key)} = s.${col} and v.tx_to is null)`).join(' or ');
      return `select $1, s.line, ${lit(check.field)}, 'unknown ${check.what} "' || s.${col} || '": not current in the database (after this run''s organization files)'
                from ${stg} s
               where s.line is not null and s.valid and s.${col} is not null and not (${known})`;
    }
  }
}

/**
 * Lines on a cycle (or below one): not reachable from a top-level node by following the links.
 * The links go to an indexed temp table first: a recursive CTE over an unindexed CTE scan
 * degrades to nested loops (13 s for 200,000 functions). The walk uses UNION, which drops nodes
 * already reached, so it ends on cyclic input. Self-links are left out: they are reported apart.
 */
async function cycleCheck(client: pg.ClientBase, spec: FileSpec, check: ReferenceCheck): Promise<string | undefined> {
  const stg = id(spec.staging);
  const key = id(spec.key.column);
  let links: string;
  if (check.kind === 'children') links = `select s.${key} as parent, c.child from ${stg} s cross join lateral unnest(s.${id(check.column)}) as c(child) where s.valid`;
  else if (check.kind === 'parent') links = `select s.${id(check.column)} as parent, s.${key} as child from ${stg} s where s.valid and s.${id(check.column)} is not null`;
  else return undefined;
  // Rebuilt for every round of checks: the set of valid lines changes between rounds.
  await client.query('drop table if exists nfr_stg_links');
  await client.query(`create temp table nfr_stg_links on commit drop as select distinct parent, child from (${links}) l where parent <> child`);
  await client.query('create index on nfr_stg_links (parent)');
  await client.query('create index on nfr_stg_links (child)');
  await client.query('analyze nfr_stg_links');
  return `with recursive reach(node) as (
            select distinct l.parent from nfr_stg_links l where not exists (select 1 from nfr_stg_links x where x.child = l.parent)
            union
            select l.child from nfr_stg_links l join reach r on l.parent = r.node
          )
          select $1, s.line, ${lit(check.field)}, 'is on a cycle of ${check.field} links: no top-level ${spec.key.field} leads to it'
            from ${stg} s
           where s.line is not null and s.valid
             and exists (select 1 from nfr_stg_links l where l.child = s.${key})
             and not exists (select 1 from reach r where r.node = s.${key})`;
}
