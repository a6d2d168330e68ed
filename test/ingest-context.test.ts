/**
 * Context provider ingestion through the CLI against a real cluster: every file format, bad lines
 * (reported with file, line and field; the file written not at all), --skip-invalid, the
 * versioning rules (change, no-change writes zero rows, vanish, re-appear), the latest date
 * folder, --dry-run, empty and missing files, and the operation lock shared with snapshots.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfig } from '../src/config.js';
import { readJsonLines } from '../src/ingest/jsonl.js';
import { targetFromUrl } from '../src/postgres/connection.js';
import { migrateToHead } from '../src/postgres/migrate.js';
import { acquireOperationLock } from '../src/runtime/lock.js';
import { openContext } from '../src/pipeline/context.js';
import { nfrJson, spawnNfr, testEnv, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { baseContext, srcFingerprint, theme, writeContext } from './support/context-fixtures.js';
import { controlQuery, query } from './support/data.js';

const cluster = fileCluster();

interface Setup {
  readonly url: string;
  readonly env: Env;
  readonly dir: string;
  readonly backups: string;
}

async function setup(prefix: string): Promise<Setup> {
  const db = await cluster.createDatabase(prefix);
  await migrateToHead(targetFromUrl(db.url));
  const dir = cluster.tempDir(`${prefix}-context`);
  const backups = cluster.tempDir(`${prefix}-backups`);
  const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: backups, NFR_HOME: cluster.tempDir(`${prefix}-home`), CONTEXT_PROVIDERS_PATH: dir });
  return { url: db.url, env, dir, backups };
}

const ingest = (s: Setup, ...args: string[]) => nfrJson(['ingest', 'context', ...args], s.env);

interface FileJson {
  file: string;
  status: string;
  date: string;
  lines_read: number;
  valid: number;
  rejected: number;
  kept: number;
  inserted: number;
  updated: number;
  unchanged: number;
  closed: number;
  tables: Record<string, { inserted: number; updated: number; unchanged: number; closed: number }>;
  errors: { file: string; line: number | null; field: string | null; message: string }[];
  errors_total: number;
}

function fileOf(body: { providers: { files: FileJson[] }[] }, name: string): FileJson {
  const f = body.providers.flatMap((p) => p.files).find((x) => x.file.endsWith(`/${name}`));
  assert.ok(f, `no report for ${name}`);
  return f;
}

const current = (url: string, sql: string) => query(url, sql);

describe('context ingestion: formats and versioning', { concurrency: 4 }, () => {
  it('loads every provider file format into the versioned tables and records the stage', async () => {
    const s = await setup('formats');
    writeContext(s.dir, '2026-03-01', baseContext());
    const r = await ingest(s);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.body.ok, true);
    assert.match(r.body.upload_id, /^UPL-\d{4}-\d{4}$/);
    const summary = r.body.providers.flatMap((p: { files: FileJson[] }) => p.files).map((f: FileJson) => [f.file, f.status, f.lines_read, f.valid, f.rejected, f.inserted]);
    assert.deepEqual(summary, [
      ['organization/2026-03-01/functions.jsonl', 'applied', 4, 4, 0, 4 + 3],
      ['organization/2026-03-01/locations.jsonl', 'applied', 3, 3, 0, 3 + 2],
      ['organization/2026-03-01/consolidated.jsonl', 'applied', 2, 2, 0, 2 + 1],
      ['risk_theme/2026-03-01/risk_theme.jsonl', 'applied', 4, 4, 0, 2 + 4 + 4],
      ['assessment_unit/2026-03-01/assessment_units.jsonl', 'applied', 2, 2, 0, 2],
    ]);

    assert.deepEqual(await current(s.url, 'select function_id, id_type, id_status, name, upload_id from src_orgs_ver_function where tx_to is null order by 1'), [
      { function_id: 'F-OPS', id_type: 'function', id_status: 'active', name: 'Operations', upload_id: r.body.upload_id },
      { function_id: 'F-OPS-1', id_type: 'function', id_status: 'active', name: 'Payments operations', upload_id: r.body.upload_id },
      { function_id: 'F-ROOT', id_type: 'function', id_status: 'active', name: 'Group', upload_id: r.body.upload_id },
      { function_id: 'F-TECH', id_type: 'function', id_status: 'active', name: 'Technology', upload_id: r.body.upload_id },
    ]);
    assert.deepEqual(await current(s.url, 'select count(*)::int as n from src_orgs_ref_function'), [{ n: 4 }]);
    assert.deepEqual(await current(s.url, 'select parent_id, child_id from src_orgs_rel_function_child where tx_to is null order by 1, 2'), [
      { parent_id: 'F-OPS', child_id: 'F-OPS-1' },
      { parent_id: 'F-ROOT', child_id: 'F-OPS' },
      { parent_id: 'F-ROOT', child_id: 'F-TECH' },
    ]);
    assert.deepEqual(await current(s.url, 'select location_id, id_type, location_name, location_status from src_orgs_ver_location where tx_to is null order by 1'), [
      { location_id: 'L-GLOBAL', id_type: 'region', location_name: ['Global'], location_status: 'active' },
      { location_id: 'L-UK', id_type: 'country', location_name: ['Global', 'United Kingdom'], location_status: 'active' },
      { location_id: 'L-US', id_type: 'country', location_name: ['Global', 'United "States"'], location_status: 'active' },
    ]);
    assert.deepEqual(await current(s.url, 'select parent_id, child_id from src_orgs_rel_location_child where tx_to is null order by 1, 2'), [
      { parent_id: 'L-GLOBAL', child_id: 'L-UK' },
      { parent_id: 'L-GLOBAL', child_id: 'L-US' },
    ]);
    assert.deepEqual(await current(s.url, 'select consolidated_id, location_name, location_status from src_orgs_ver_consolidated where tx_to is null order by 1'), [
      { consolidated_id: 'C-EU', location_name: ['Consolidated', 'Europe, Middle East\tand Africa'], location_status: 'active' },
      { consolidated_id: 'C-ROOT', location_name: ['Consolidated'], location_status: 'active' },
    ]);
    assert.deepEqual(await current(s.url, 'select parent_id, child_id from src_orgs_rel_consolidated_child where tx_to is null'), [{ parent_id: 'C-ROOT', child_id: 'C-EU' }]);
    assert.deepEqual(await current(s.url, 'select taxonomy_id, name, description from src_risks_ver_taxonomy where tx_to is null order by 1'), [
      { taxonomy_id: 'TX-CYB', name: 'Cyber risk', description: 'Cyber risk taxonomy' },
      { taxonomy_id: 'TX-OPS', name: 'Operational risk', description: 'Operational risk taxonomy' },
    ]);
    assert.deepEqual(await current(s.url, 'select risk_theme_id, name, description, mapping_considerations, status, parent_theme_id from src_risks_ver_theme where tx_to is null order by 1'), [
      { risk_theme_id: 'RT-1', name: 'Process failure', description: 'Process failure: description', mapping_considerations: 'Map controls about process failure', status: 'Active', parent_theme_id: null },
      { risk_theme_id: 'RT-2', name: 'Payment processing error', description: 'Payment processing error: description', mapping_considerations: 'Map controls about payment processing error', status: 'Active', parent_theme_id: 'RT-1' },
      { risk_theme_id: 'RT-3', name: 'Legacy manual processing', description: 'Legacy manual processing: description', mapping_considerations: 'Map controls about legacy manual processing', status: 'Expired', parent_theme_id: 'RT-1' },
      { risk_theme_id: 'RT-4', name: 'Unauthorised access', description: 'Unauthorised access: description', mapping_considerations: 'Map controls about unauthorised access', status: 'Active', parent_theme_id: null },
    ]);
    assert.deepEqual(await current(s.url, 'select taxonomy_id, risk_theme_id from src_risks_rel_taxonomy_theme where tx_to is null order by 2'), [
      { taxonomy_id: 'TX-OPS', risk_theme_id: 'RT-1' },
      { taxonomy_id: 'TX-OPS', risk_theme_id: 'RT-2' },
      { taxonomy_id: 'TX-OPS', risk_theme_id: 'RT-3' },
      { taxonomy_id: 'TX-CYB', risk_theme_id: 'RT-4' },
    ]);
    assert.deepEqual(await current(s.url, 'select unit_id, name, description, function_id, location_id, location_type from src_au_ver_unit where tx_to is null order by 1'), [
      { unit_id: 'AU-1', name: 'UK payments', description: 'Payments in the UK', function_id: 'F-OPS-1', location_id: 'L-UK', location_type: 'location' },
      { unit_id: 'AU-2', name: 'EMEA technology', description: null, function_id: 'F-TECH', location_id: 'C-EU', location_type: 'consolidated' },
    ]);

    const [stage] = await current(s.url, 'select stage, counts from nfr_pipeline_stage');
    assert.equal(stage.stage, 'context');
    assert.deepEqual(stage.counts, { functions: 4, locations: 3, consolidated: 2, taxonomies: 2, risk_themes: 4, assessment_units: 2 });
    assert.deepEqual(await controlQuery(s.url, 'select upload_id, kind, status, rows_inserted, rows_rejected from nfr_upload'), [
      { upload_id: r.body.upload_id, kind: 'context', status: 'completed', rows_inserted: 7 + 5 + 3 + 10 + 2, rows_rejected: 0 },
    ]);
  });

  it('gives a database nfr never touched its schema, and refuses one with other tables or a newer schema', async () => {
    const s = await setup('fresh');
    const fresh = await cluster.createDatabase('fresh_empty');
    writeContext(s.dir, '2026-03-01', baseContext());
    const env = { ...s.env, DATABASE_URL: fresh.url };
    // A dry run writes nothing, not even the schema.
    const dry = await nfrJson(['ingest', 'context', '--dry-run'], env);
    assert.equal(dry.code, 5, dry.stderr);
    assert.match(dry.body.error.message, /has no nfr schema yet, and this command writes nothing/);
    assert.deepEqual(await query(fresh.url, "select count(*)::int as n from pg_tables where schemaname = 'public'"), [{ n: 0 }]);
    const first = await nfrJson(['ingest', 'context'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal((await query(fresh.url, 'select count(*)::int as n from src_orgs_ref_function'))[0].n, 4);
    const index = await nfrJson(['index'], env);
    assert.equal(index.code, 0, index.stderr);

    const foreign = await cluster.createDatabase('foreign');
    await query(foreign.url, 'create table someone_elses (id int)');
    const refused = await nfrJson(['ingest', 'context'], { ...s.env, DATABASE_URL: foreign.url });
    assert.equal(refused.code, 5, refused.stderr);
    assert.equal(refused.body.error.code, 'SCHEMA_MISMATCH');
    assert.match(refused.body.error.message, /has tables but no nfr schema; run `nfr db migrate`/);
    const check = await nfrJson(['index', '--check'], { ...s.env, DATABASE_URL: foreign.url });
    assert.equal(check.code, 5, check.stderr);

    await query(s.url, "insert into nfr_migrations (name, run_on) values ('9999_from-the-future', now())");
    const ahead = await ingest(s);
    assert.equal(ahead.code, 5, ahead.stderr);
    assert.match(ahead.body.error.message, /migrations this version of nfr does not know \(9999_from-the-future\); upgrade nfr/);
  });

  it('writes zero rows when the same folder is ingested again', async () => {
    const s = await setup('noop');
    writeContext(s.dir, '2026-03-01', baseContext());
    assert.equal((await ingest(s)).code, 0);
    const before = await srcFingerprint(s.url);
    assert.equal(before.src_orgs_ver_function?.rows, 4);

    const again = await ingest(s);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(await srcFingerprint(s.url), before, 'no src_ table changed: same rows, same closed versions, same latest tx_from/tx_to');
    assert.deepEqual(
      { inserted: again.body.totals.inserted, updated: again.body.totals.updated, closed: again.body.totals.closed, unchanged: again.body.totals.unchanged },
      { inserted: 0, updated: 0, closed: 0, unchanged: 7 + 5 + 3 + 10 + 2 },
    );
  });

  it('closes and opens changed versions, closes vanished ones, and opens a new version when they re-appear', async () => {
    const s = await setup('versions');
    const day1 = baseContext();
    writeContext(s.dir, '2026-03-01', day1);
    const first = await ingest(s);
    assert.equal(first.code, 0, first.stderr);

    // Day 2: F-TECH renamed, F-OPS-1 (and its edge) gone, F-DATA new, RT-3 gone, AU-1 moved to F-OPS, AU-3 on the new F-DATA.
    const day2 = baseContext();
    day2.functions = [
      { ...day2.functions[0]!, out_id: ['F-OPS', 'F-TECH', 'F-DATA'] },
      { ...day2.functions[1]!, out_id: [] },
      { ...day2.functions[2]!, name: 'Technology & Data' },
      { id: 'F-DATA', id_type: 'function', id_status: 'active', name: 'Data office', out_id: [] },
    ];
    day2.themes = day2.themes.filter((t) => t.risk_theme_id !== 'RT-3');
    day2.units = [{ ...day2.units[0]!, function_id: 'F-OPS' }, day2.units[1]!, { id: 'AU-3', name: 'Data', description: 'Data office', function_id: 'F-DATA', location_id: 'L-US', location_type: 'location' }];
    writeContext(s.dir, '2026-03-02', day2);
    const second = await ingest(s);
    assert.equal(second.code, 0, second.stderr);
    const functions = fileOf(second.body, 'functions.jsonl');
    assert.equal(functions.date, '2026-03-02');
    assert.deepEqual(functions.tables.src_orgs_ver_function, { inserted: 1, updated: 1, unchanged: 2, closed: 1 });
    assert.deepEqual(functions.tables.src_orgs_rel_function_child, { inserted: 1, updated: 0, unchanged: 2, closed: 1 });
    assert.deepEqual(fileOf(second.body, 'risk_theme.jsonl').tables.src_risks_ver_theme, { inserted: 0, updated: 0, unchanged: 3, closed: 1 });
    assert.deepEqual(fileOf(second.body, 'assessment_units.jsonl').tables.src_au_ver_unit, { inserted: 1, updated: 1, unchanged: 1, closed: 0 });

    const tech = await current(s.url, "select name, tx_from::text, tx_to::text from src_orgs_ver_function where function_id = 'F-TECH' order by tx_from");
    assert.equal(tech.length, 2, 'history kept');
    assert.equal(tech[0].name, 'Technology');
    assert.equal(tech[1].name, 'Technology & Data');
    assert.equal(tech[0].tx_to, tech[1].tx_from, 'the old version ends when the new one starts');
    assert.equal(tech[1].tx_to, null);
    const gone = await current(s.url, "select tx_to is not null as closed from src_orgs_ver_function where function_id = 'F-OPS-1'");
    assert.deepEqual(gone, [{ closed: true }], 'vanished: closed, not deleted');
    assert.deepEqual(await current(s.url, "select count(*)::int as n from src_orgs_ref_function where function_id = 'F-OPS-1'"), [{ n: 1 }]);
    assert.deepEqual(await current(s.url, "select tx_to is not null as closed from src_orgs_rel_function_child where child_id = 'F-OPS-1'"), [{ closed: true }]);
    assert.deepEqual(await current(s.url, "select tx_to is not null as closed from src_risks_ver_theme where risk_theme_id = 'RT-3'"), [{ closed: true }]);
    assert.deepEqual(await current(s.url, "select tx_to is not null as closed from src_risks_rel_taxonomy_theme where risk_theme_id = 'RT-3'"), [{ closed: true }]);

    // Day 3: day 1 again; F-OPS-1 and RT-3 come back as new versions, their closed versions stay.
    writeContext(s.dir, '2026-03-03', day1);
    const third = await ingest(s);
    assert.equal(third.code, 0, third.stderr);
    const back = await current(s.url, "select name, tx_to is null as current from src_orgs_ver_function where function_id = 'F-OPS-1' order by tx_from");
    assert.deepEqual(back, [
      { name: 'Payments operations', current: false },
      { name: 'Payments operations', current: true },
    ]);
    assert.deepEqual(await current(s.url, "select tx_to is null as current from src_orgs_rel_function_child where child_id = 'F-OPS-1' order by tx_from"), [{ current: false }, { current: true }]);
    assert.deepEqual(await current(s.url, "select tx_to is null as current from src_risks_ver_theme where risk_theme_id = 'RT-3' order by tx_from"), [{ current: false }, { current: true }]);
    assert.deepEqual(await current(s.url, "select count(*)::int as n from src_orgs_ver_function where function_id = 'F-TECH'"), [{ n: 3 }]);
    assert.deepEqual(await current(s.url, "select tx_to is null as current from src_orgs_ver_function where function_id = 'F-DATA'"), [{ current: false }]);
    assert.deepEqual(await current(s.url, 'select count(*)::int as n from src_orgs_ver_function where tx_to is null'), [{ n: 4 }]);
  });

  it('uses the latest valid YYYY-MM-DD folder and ignores other names', async () => {
    const s = await setup('latest');
    const base = baseContext();
    writeContext(s.dir, '2026-01-15', base);
    const feb = baseContext();
    feb.functions[0] = { ...feb.functions[0]!, name: 'Group (February)' };
    writeContext(s.dir, '2026-02-01', feb);
    const decoy = baseContext();
    decoy.functions[0] = { ...decoy.functions[0]!, name: 'decoy' };
    for (const name of ['latest', '2026-13-01', '2026-02-30', '20260301']) writeContext(s.dir, name, decoy);
    writeFileSync(path.join(s.dir, 'organization', '2026-12-31'), 'a file, not a folder');
    const r = await ingest(s);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.body.providers.map((p: { date: string }) => p.date), ['2026-02-01', '2026-02-01', '2026-02-01']);
    assert.deepEqual(await current(s.url, "select name from src_orgs_ver_function where function_id = 'F-ROOT'"), [{ name: 'Group (February)' }]);
  });
});

describe('context ingestion: bad input', { concurrency: 4 }, () => {
  it('rejects a file with bad lines whole, naming file, line and field, and still applies the good files', async () => {
    const s = await setup('badlines');
    writeContext(s.dir, '2026-03-01', baseContext());
    assert.equal((await ingest(s)).code, 0);
    const before = await srcFingerprint(s.url);

    const day2 = baseContext();
    day2.locations[1] = { ...day2.locations[1]!, location_name: ['Global', 'UK'] };
    const functions = [
      '{"id":"F-ROOT","name":"Group","out_id":["F-A","F-GHOST"]}',
      '{"id":"F-A","name":"A"}',
      '{not json',
      '{"id":"F-B"}',
      '{"id":"F-C","name":42}',
      '{"id":"F-A","name":"A again"}',
      '{"id":"bad id!","name":"x"}',
      '[1,2]',
      '',
      '{"id":"F-D","name":"D","out_id":["F-D"]}',
      '{"id":"F-E","name":"E","out_id":["F-F"]}',
      '{"id":"F-F","name":"F","out_id":["F-E"]}',
    ].join('\n');
    const themes = [
      JSON.stringify(theme('TX-OPS', 'Operational risk', 'RT-1', 'Process failure', null)),
      JSON.stringify({ ...theme('TX-OPS', 'Operational risk', 'RT-2', 'Payment error', 'RT-1'), status: 'Retired' }),
      JSON.stringify(theme('TX-OPS', 'Operational risk', 'RT-5', 'Orphan', 'RT-404')),
      JSON.stringify(theme('TX-OPS', 'Ops risk', 'RT-6', 'Renamed taxonomy', null)),
      JSON.stringify(theme('TX-OPS', 'Operational risk', 'RT-7', 'Loop A', 'RT-8')),
      JSON.stringify(theme('TX-OPS', 'Operational risk', 'RT-8', 'Loop B', 'RT-7')),
      JSON.stringify({ ...theme('TX-OPS', 'Operational risk', 'RT-9', 'Nul', null), risk_theme_description: 'a\u0000b' }),
    ].join('\n');
    writeContext(s.dir, '2026-03-02', { functions, locations: day2.locations, consolidated: day2.consolidated, themes });
    const r = await ingest(s);
    assert.equal(r.code, 12, r.stderr);
    assert.match(r.stderr, /2 file\(s\) rejected.*functions\.jsonl.*risk_theme\.jsonl/);
    assert.equal(r.body.ok, false);
    const f = fileOf(r.body, 'functions.jsonl');
    assert.equal(f.status, 'rejected');
    assert.deepEqual([f.lines_read, f.valid, f.rejected, f.inserted], [11, 1, 10, 0]);
    const file = 'organization/2026-03-02/functions.jsonl';
    assert.deepEqual(
      f.errors.map((e) => [e.file, e.line, e.field]),
      [
        [file, 1, 'out_id.1'],
        [file, 3, null],
        [file, 4, 'name'],
        [file, 5, 'name'],
        [file, 6, 'id'],
        [file, 7, 'id'],
        [file, 8, null],
        [file, 10, 'out_id.0'],
        [file, 11, 'out_id'],
        [file, 12, 'out_id'],
      ],
    );
    const msg = (line: number) => f.errors.find((e) => e.line === line)?.message ?? '';
    assert.match(msg(1), /unknown child "F-GHOST"/);
    assert.match(msg(3), /invalid JSON/);
    assert.equal(msg(4), 'required field is missing');
    assert.match(msg(5), /expected string/);
    assert.match(msg(6), /duplicate id "F-A": first on line 2/);
    assert.match(msg(7), /expected an id/);
    assert.match(msg(8), /expected a JSON object/);
    assert.match(msg(10), /lists itself as a child/);
    assert.match(msg(11), /is on a cycle of out_id links/);

    const t = fileOf(r.body, 'risk_theme.jsonl');
    assert.equal(t.status, 'rejected');
    assert.deepEqual(t.errors.map((e) => [e.line, e.field]), [[2, 'status'], [3, 'parent_id'], [4, 'taxonomy'], [4, 'taxonomy_description'], [5, 'parent_id'], [6, 'parent_id'], [7, 'risk_theme_description']]);
    assert.match(t.errors[1]!.message, /unknown parent "RT-404"/);
    assert.match(t.errors[2]!.message, /taxonomy_id "TX-OPS" has taxonomy "Operational risk" on line 1 but "Ops risk" here/);

    // Nothing of the rejected files was written; the good locations file was.
    const after = await srcFingerprint(s.url);
    for (const table of ['src_orgs_ref_function', 'src_orgs_ver_function', 'src_orgs_rel_function_child', 'src_risks_ver_theme', 'src_risks_ver_taxonomy', 'src_risks_rel_taxonomy_theme', 'src_au_ver_unit']) {
      assert.deepEqual(after[table], before[table], `${table} unchanged`);
    }
    assert.equal(fileOf(r.body, 'locations.jsonl').status, 'applied');
    assert.deepEqual(await current(s.url, "select location_name from src_orgs_ver_location where location_id = 'L-UK' and tx_to is null"), [{ location_name: ['Global', 'UK'] }]);
    const [upload] = await controlQuery(s.url, 'select status, rows_rejected, jsonb_array_length(errors) as errors from nfr_upload order by created_at desc limit 1');
    assert.deepEqual(upload, { status: 'completed', rows_rejected: 10 + 6, errors: 10 + 7 });
  });

  it('--skip-invalid writes the good lines and keeps the current version of entities whose line is bad', async () => {
    const s = await setup('skip');
    writeContext(s.dir, '2026-03-01', baseContext());
    assert.equal((await ingest(s)).code, 0);
    const functions = [
      '{"id":"F-ROOT","name":"Group","id_type":"function","id_status":"active","out_id":["F-OPS","F-TECH","F-GHOST"]}',
      '{"id":"F-OPS","name":"Operations v2","id_type":"function","id_status":"active","out_id":["F-OPS-1","F-NEW2"]}',
      '{"id":"F-TECH","name":7}',
      '{"id":"F-OPS-1","id_type":"function","id_status":"active","name":"Payments operations","out_id":[]}',
      '{"id":"F-NEW","name":"New","out_id":["F-X"]}',
      '{broken',
      '{"id":"F-X","name":"  "}',
      '{"id":"F-NEW2","name":"New 2"}',
    ].join('\n');
    const base = baseContext();
    writeContext(s.dir, '2026-03-02', { functions, locations: base.locations, consolidated: base.consolidated });
    const r = await ingest(s, '--skip-invalid');
    assert.equal(r.code, 0, r.stderr);
    const f = fileOf(r.body, 'functions.jsonl');
    assert.equal(f.status, 'applied');
    assert.deepEqual([f.lines_read, f.valid, f.rejected, f.kept], [8, 3, 5, 2]);
    assert.deepEqual(f.errors.map((e) => [e.line, e.field]), [[1, 'out_id.2'], [3, 'name'], [5, 'out_id.0'], [6, null], [7, 'name']]);
    assert.match(f.errors[2]!.message, /unknown child "F-X": no valid line/);
    assert.deepEqual(f.tables.src_orgs_ver_function, { inserted: 1, updated: 1, unchanged: 3, closed: 0 });

    assert.deepEqual(await current(s.url, 'select function_id, name from src_orgs_ver_function where tx_to is null order by 1'), [
      { function_id: 'F-NEW2', name: 'New 2' },
      { function_id: 'F-OPS', name: 'Operations v2' },
      { function_id: 'F-OPS-1', name: 'Payments operations' },
      { function_id: 'F-ROOT', name: 'Group' },
      { function_id: 'F-TECH', name: 'Technology' },
    ]);
    assert.deepEqual(await current(s.url, "select count(*)::int as n from src_orgs_ver_function where function_id in ('F-ROOT', 'F-TECH')"), [{ n: 2 }], 'kept: no new version');
    assert.deepEqual(await current(s.url, 'select parent_id, child_id from src_orgs_rel_function_child where tx_to is null order by 1, 2'), [
      { parent_id: 'F-OPS', child_id: 'F-NEW2' },
      { parent_id: 'F-OPS', child_id: 'F-OPS-1' },
      { parent_id: 'F-ROOT', child_id: 'F-OPS' },
      { parent_id: 'F-ROOT', child_id: 'F-TECH' },
    ]);
    assert.deepEqual(await current(s.url, "select count(*)::int as n from src_orgs_ref_function where function_id in ('F-NEW', 'F-X', 'F-GHOST')"), [{ n: 0 }]);
  });

  it('checks assessment units against the current functions when functions.jsonl is rejected', async () => {
    const s = await setup('dependent');
    writeContext(s.dir, '2026-03-01', baseContext());
    assert.equal((await ingest(s)).code, 0);
    const day2 = baseContext();
    // functions.jsonl drops F-OPS-1 and adds F-NEW, but is rejected for a bad line: F-OPS-1 stays current.
    const functions = [...day2.functions.slice(0, 3).map((l) => JSON.stringify(l.id === 'F-OPS' ? { ...l, out_id: [] } : l)), '{"id":"F-NEW","name":"New"}', '{"id":"F-BAD"}'].join('\n');
    const units = [...day2.units, { id: 'AU-3', name: 'New unit', function_id: 'F-NEW', location_id: 'L-NOWHERE', location_type: 'location' }];
    writeContext(s.dir, '2026-03-02', { functions, locations: day2.locations, consolidated: day2.consolidated, units });
    const r = await ingest(s);
    assert.equal(r.code, 12);
    assert.equal(fileOf(r.body, 'functions.jsonl').status, 'rejected');
    const u = fileOf(r.body, 'assessment_units.jsonl');
    assert.equal(u.status, 'rejected');
    assert.deepEqual(u.errors.map((e) => [e.line, e.field, e.message]), [
      [3, 'function_id', 'unknown function "F-NEW": not current in the database (after this run\'s organization files)'],
      [3, 'location_id', 'unknown location or consolidated node "L-NOWHERE": not current in the database (after this run\'s organization files)'],
    ]);

    // Once functions.jsonl is fixed, the same units are checked against this run's functions.
    writeContext(s.dir, '2026-03-02', { functions: functions.replace('{"id":"F-BAD"}', '{"id":"F-BAD","name":"Bad no more"}'), units: units.slice(0, 2) });
    const fixed = await ingest(s);
    assert.equal(fixed.code, 12, 'AU-1 still points at F-OPS-1, which this run closes');
    assert.deepEqual(fileOf(fixed.body, 'assessment_units.jsonl').errors.map((e) => [e.line, e.field]), [[1, 'function_id']]);
    assert.equal(fileOf(fixed.body, 'functions.jsonl').status, 'applied');
  });

  it('rejects an empty file unless --allow-empty, and reports missing folders and files', async () => {
    const s = await setup('empty');
    writeContext(s.dir, '2026-03-01', baseContext());
    assert.equal((await ingest(s)).code, 0);
    writeContext(s.dir, '2026-03-02', { units: '\n' });
    const refused = await ingest(s);
    assert.equal(refused.code, 12);
    const u = fileOf(refused.body, 'assessment_units.jsonl');
    assert.equal(u.status, 'rejected');
    assert.match(u.errors[0]!.message, /no records.*--allow-empty/);
    assert.deepEqual(await current(s.url, 'select count(*)::int as n from src_au_ver_unit where tx_to is null'), [{ n: 2 }]);

    const allowed = await ingest(s, '--allow-empty');
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.deepEqual(fileOf(allowed.body, 'assessment_units.jsonl').tables.src_au_ver_unit, { inserted: 0, updated: 0, unchanged: 0, closed: 2 });
    assert.deepEqual(await current(s.url, 'select count(*)::int as n, count(tx_to)::int as closed from src_au_ver_unit'), [{ n: 2, closed: 2 }]);

    // A provider without any folder is skipped; a file missing from a date folder is a rejection.
    const other = await setup('missing');
    const base = baseContext();
    writeContext(other.dir, '2026-03-01', { functions: base.functions, locations: base.locations });
    const r = await ingest(other);
    assert.equal(r.code, 12);
    assert.deepEqual(r.body.providers.map((p: { provider: string; status: string }) => [p.provider, p.status]), [
      ['organization', 'found'],
      ['risk_theme', 'missing'],
      ['assessment_unit', 'missing'],
    ]);
    assert.equal(fileOf(r.body, 'consolidated.jsonl').status, 'missing');
    assert.equal(fileOf(r.body, 'functions.jsonl').status, 'applied');
    const none = await nfrJson(['ingest', 'context', '--path', path.join(other.dir, 'nope')], other.env);
    assert.equal(none.code, 4);
    assert.match(none.body.error.message, /does not exist/);
  });
});

describe('context ingestion: dry run and locking', { concurrency: 2 }, () => {
  it('--dry-run validates and counts but writes nothing', async () => {
    const s = await setup('dryrun');
    writeContext(s.dir, '2026-03-01', baseContext());
    const before = await srcFingerprint(s.url);
    const r = await ingest(s, '--dry-run');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.body.dry_run, true);
    assert.equal(r.body.upload_id, null);
    assert.equal(r.body.totals.inserted, 7 + 5 + 3 + 10 + 2);
    assert.deepEqual(await srcFingerprint(s.url), before);
    assert.deepEqual(await current(s.url, 'select stage from nfr_pipeline_stage'), [{ stage: 'clean' }]);
    assert.deepEqual(await controlQuery(s.url, 'select upload_id from nfr_upload'), []);

    // A dry run reports a bad file the way a real run would.
    writeContext(s.dir, '2026-03-02', { ...baseContext(), units: '{"id":"AU-1"}\n' });
    const bad = await ingest(s, '--dry-run');
    assert.equal(bad.code, 12);
    assert.deepEqual(fileOf(bad.body, 'assessment_units.jsonl').errors.map((e) => [e.line, e.field]), [[1, 'name']]);
    assert.deepEqual(await srcFingerprint(s.url), before);
  });

  it('waits while a snapshot operation holds the lock and runs once it is released; NFR_LOCK_WAIT_SECONDS=0 refuses', async () => {
    const s = await setup('locked');
    writeContext(s.dir, '2026-03-01', baseContext());
    const ctx = await openContext(resolveConfig({ env: s.env, cwd: s.dir }));

    // SPEC §5.3: ingestion is paused while a snapshot runs; it waits on the same lock.
    const lock = await acquireOperationLock(ctx, 'create', 'SNAP-2026-0001', 0);
    // (The test environment sets NFR_LOCK_WAIT_SECONDS=0; here the default is what is tested.)
    const waiting = spawnNfr(['ingest', 'context', '--json'], { ...s.env, NFR_LOCK_WAIT_SECONDS: undefined });
    // Released only once the command says it waits (a fixed pause raced a slow start).
    await waitForStderr(waiting, /ingest waits \(up to 3600 s\) for the operation lock held by create of SNAP-2026-0001 by pid/);
    assert.deepEqual(await current(s.url, 'select count(*)::int as n from src_orgs_ver_function'), [{ n: 0 }], 'still waiting');
    await lock.release();
    assert.equal(await waitForExit(waiting), 0);
    assert.deepEqual(await current(s.url, 'select count(*)::int as n from src_orgs_ver_function'), [{ n: 4 }]);

    // Told not to wait, it is refused at once, saying who holds the lock.
    const again = await acquireOperationLock(ctx, 'create', 'SNAP-2026-0002', 0);
    try {
      const refused = await nfrJson(['ingest', 'context'], { ...s.env, NFR_LOCK_WAIT_SECONDS: '0' });
      assert.equal(refused.code, 3, refused.stderr);
      assert.equal(refused.body.error.code, 'LOCKED');
      assert.match(refused.body.error.message, /SNAP-2026-0002/);
    } finally {
      await again.release();
    }
  });
});

describe('JSON Lines reader', () => {
  it('numbers lines, skips blank ones, accepts CRLF and a BOM, and reports bad UTF-8 and long lines', async () => {
    const dir = path.join(cluster.tempDir('jsonl'), 'x');
    mkdirSync(dir);
    const file = path.join(dir, 'a.jsonl');
    const long = JSON.stringify({ v: 'x'.repeat(200) });
    writeFileSync(file, Buffer.concat([Buffer.from('\ufeff{"a":1}\r\n\n  \n'), Buffer.from([0x7b, 0xff, 0x7d, 0x0a]), Buffer.from(`${long}\n{"b":"é"}`)]));
    const out = [];
    for await (const l of readJsonLines(file, { maxLineBytes: 100 })) out.push(l);
    assert.deepEqual(out, [
      { kind: 'value', line: 1, value: { a: 1 } },
      { kind: 'bad', line: 4, message: 'line is not valid UTF-8' },
      { kind: 'bad', line: 5, message: 'line is longer than 100 bytes' },
      { kind: 'value', line: 6, value: { b: 'é' } },
    ]);
  });
});
