/**
 * What a controls CSV says by its columns, through the CLI against a real cluster: an absent
 * column keeps what is there (attributes and links), an empty cell of a present column clears;
 * every csv-parse error is a row error naming the line (exit 12); a binary file is refused as the
 * API refuses it; parent cycles are rejected with the lines involved.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { controlText, textHash } from '../src/ingest/text.js';
import { fileCluster } from './support/cluster.js';
import { controlsDb, csv, row } from './support/controls-fixtures.js';
import { query } from './support/data.js';
import { ingestControls as ingest, writeInto as write } from './support/controls-fixtures.js';

const cluster = fileCluster();

/** AC-2 as the tests see it: attributes and current links. */
async function ac2(url: string) {
  const [v] = await query(
    url,
    `select title, description, owner, key_control, owning_function_id, family_id, status, control_type, text_hash
       from src_controls_ver_control where control_id = 'AC-2' and tx_to is null`,
  );
  const links = async (table: string, col: string) =>
    (await query(url, `select ${col} as id from ${table} where control_id = 'AC-2' and tx_to is null order by 1`)).map((r) => r.id);
  return {
    ...v,
    risk_themes: await links('src_controls_rel_risk_theme', 'risk_theme_id'),
    related_functions: await links('src_controls_rel_related_function', 'function_id'),
    related_locations: await links('src_controls_rel_related_location', 'location_id'),
  };
}

describe('controls CSV: absent columns keep, empty cells clear', () => {
  it('a narrow file updates AC-2 without blanking its owner, key control, owning function, risk themes or related functions', async () => {
    const db = await controlsDb(cluster, 'narrow');
    const full = [
      row('AC-1'),
      row('AC-2', { owner: 'alice@example.com', key_control: 'yes', owning_function_id: 'F-0004', risk_theme_ids: 'RT-001;RT-003', related_function_ids: 'F-0002;F-0005' }),
    ];
    const first = await ingest(await write(db.dir, 'full.csv', csv(full)), db.env);
    assert.equal(first.code, 0, first.stderr);

    // Exactly the narrow export: the other columns are not in the file.
    const narrowColumns = ['control_id', 'title', 'description', 'family_id', 'status', 'control_type'];
    const narrow = [{ control_id: 'AC-2', title: 'Account management, reviewed', description: 'New text', family_id: 'AC', status: 'active', control_type: 'detective' }];
    const r = await ingest(await write(db.dir, 'narrow.csv', csv(narrow, narrowColumns)), db.env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.body.controls, { inserted: 0, updated: 1, unchanged: 0, closed: 0 });
    assert.deepEqual(
      [r.body.relations.risk_themes, r.body.relations.related_functions, r.body.relations.related_locations],
      [
        { opened: 0, closed: 0, unchanged: 2 },
        { opened: 0, closed: 0, unchanged: 2 },
        { opened: 0, closed: 0, unchanged: 1 },
      ],
    );
    assert.deepEqual(await ac2(db.url), {
      title: 'Account management, reviewed',
      description: 'New text',
      owner: 'alice@example.com',
      key_control: true,
      owning_function_id: 'F-0004',
      family_id: 'AC',
      status: 'active',
      control_type: 'detective',
      text_hash: textHash(controlText('Account management, reviewed', 'New text')),
      risk_themes: ['RT-001', 'RT-003'],
      related_functions: ['F-0002', 'F-0005'],
      related_locations: ['L-0002'],
    });

    // Without description, a changed title hashes with the kept description; an unchanged one writes nothing.
    const titles = await ingest(await write(db.dir, 'titles.csv', csv([{ control_id: 'AC-1', title: 'Title of AC-1' }, { control_id: 'AC-2', title: 'Renamed' }], ['control_id', 'title'])), db.env);
    assert.equal(titles.code, 0, titles.stderr);
    assert.deepEqual(titles.body.controls, { inserted: 0, updated: 1, unchanged: 1, closed: 0 });
    assert.deepEqual(titles.body.text_changed.control_ids, ['AC-2']);
    const after = await ac2(db.url);
    assert.equal(after.description, 'New text');
    assert.equal(after.text_hash, textHash(controlText('Renamed', 'New text')));
    assert.equal(after.owner, 'alice@example.com');
    assert.deepEqual(after.risk_themes, ['RT-001', 'RT-003']);

    // A new control in a narrow file gets the defaults: nothing to keep.
    const fresh = await ingest(await write(db.dir, 'fresh.csv', csv([{ control_id: 'AC-9', title: 'New one' }], ['control_id', 'title'])), db.env);
    assert.equal(fresh.code, 0, fresh.stderr);
    const [ac9] = await query(db.url, "select status, owner, description from src_controls_ver_control where control_id = 'AC-9' and tx_to is null");
    assert.deepEqual(ac9, { status: 'active', owner: null, description: null });
  });

  it('present columns with empty cells clear the values and close the links', async () => {
    const db = await controlsDb(cluster, 'clear');
    const full = [row('AC-2', { owner: 'alice@example.com', key_control: 'yes', owning_function_id: 'F-0004', risk_theme_ids: 'RT-001;RT-003', related_function_ids: 'F-0002;F-0005' })];
    assert.equal((await ingest(await write(db.dir, 'full.csv', csv(full)), db.env)).code, 0);

    const columns = ['control_id', 'title', 'owner', 'key_control', 'owning_function_id', 'risk_theme_ids', 'related_function_ids'];
    const r = await ingest(await write(db.dir, 'clear.csv', csv([{ control_id: 'AC-2', title: 'Title of AC-2' }], columns)), db.env);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.body.relations.risk_themes, { opened: 0, closed: 2, unchanged: 0 });
    assert.deepEqual(r.body.relations.related_functions, { opened: 0, closed: 2, unchanged: 0 });
    const now = await ac2(db.url);
    assert.deepEqual(
      { owner: now.owner, key_control: now.key_control, owning_function_id: now.owning_function_id, risk_themes: now.risk_themes, related_functions: now.related_functions },
      { owner: null, key_control: null, owning_function_id: null, risk_themes: [], related_functions: [] },
    );
    // Not in the file: kept.
    assert.equal(now.description, 'Description of AC-2');
    assert.deepEqual(now.related_locations, ['L-0002']);
  });
});

describe('controls CSV: parser errors, binary files, parent cycles', () => {
  it('reports every csv-parse error as a row error naming the line and column: exit 12 INVALID_INPUT, nothing written', async () => {
    const db = await controlsDb(cluster, 'parse');
    const cases: [string, string, number, string][] = [
      ['opening.csv', 'control_id,title,description\nQ-0,ok,fine\nQ-1,x"y "quoted",desc\n', 3, 'title'],
      ['formula.csv', 'control_id,title,description\nFO-1,=HYPERLINK("http://evil"),d\n', 2, 'title'],
      ['closing.csv', 'control_id,title\nA-1,"x"y\n', 2, 'title'],
    ];
    for (const [name, text, line, field] of cases) {
      const r = await ingest(await write(db.dir, name, text), db.env);
      assert.equal(r.code, 12, `${name}: ${r.stderr}`);
      assert.equal(r.body.error.code, 'INVALID_INPUT', name);
      assert.match(r.stderr, new RegExp(`${name.replace('.', '\\.')} line ${line}: malformed CSV: .*Quote.*; the file cannot be read past this point; nothing was written`), name);
      assert.deepEqual(
        r.body.error.details.errors.map((e: { line: number; field: string }) => [e.line, e.field]),
        [[line, field]],
        name,
      );
      assert.match(r.body.error.details.upload_id, /^UPL-\d{4}-\d{4}$/, `${name}: the refused batch is on record`);
    }
    assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ref_control'))[0].n, 0);
  });

  it('refuses a binary file before storing it, as the API does (415 check), but a NUL inside a field is a row error', async () => {
    const db = await controlsDb(cluster, 'binary');
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');
    const r = await ingest(await write(db.dir, 'image.csv', png), db.env);
    assert.equal(r.code, 12, r.stderr);
    assert.equal(r.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.match(r.stderr, /image\.csv is not a text CSV: byte 9 is a NUL byte.*nothing was stored/);
    const utf16 = await ingest(await write(db.dir, 'utf16.csv', Buffer.from('\ufeffcontrol_id,title\nAC-1,x\n', 'utf16le')), db.env);
    assert.equal(utf16.body.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    await assert.rejects(readdir(path.join(db.dataDir, 'controls')), /ENOENT/, 'nothing stored');

    const nul = await ingest(await write(db.dir, 'nul.csv', csv([row('N-1'), row('N-2', { description: 'a\u0000b' })])), db.env);
    assert.equal(nul.code, 12);
    assert.deepEqual(nul.body.error.details.errors.map((e: { line: number; field: string }) => [e.line, e.field]), [[3, 'description']]);
  });

  it('rejects parent cycles within the file and through current controls, naming the lines involved', async () => {
    const db = await controlsDb(cluster, 'cycles');
    const cyclic = [row('PC-1', { parent_control_id: 'PC-2' }), row('PC-2', { parent_control_id: 'PC-1' }), row('PC-3', { parent_control_id: 'PC-1' }), row('OK-1')];
    const r = await ingest(await write(db.dir, 'cycle.csv', csv(cyclic)), db.env);
    assert.equal(r.code, 12, r.stderr);
    const errors = r.body.error.details.errors.map((e: { line: number; field: string; message: string }) => [e.line, e.field, e.message]);
    assert.deepEqual(errors, [
      [2, 'parent_control_id', 'parent cycle: PC-1 (line 2) → PC-2 (line 3) → PC-1; a control cannot be its own ancestor'],
      [3, 'parent_control_id', 'parent cycle: PC-2 (line 3) → PC-1 (line 2) → PC-2; a control cannot be its own ancestor'],
      [4, 'parent_control_id', 'unknown parent control PC-1: it is not a valid row of this file nor a current control'],
    ]);
    assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ref_control'))[0].n, 0);

    // Through the database: PC-2 → PC-1 is current; a file making PC-1's parent PC-2 closes the loop.
    const base = await ingest(await write(db.dir, 'base.csv', csv([row('PC-1'), row('PC-2', { parent_control_id: 'PC-1' })])), db.env);
    assert.equal(base.code, 0, base.stderr);
    const loop = await ingest(await write(db.dir, 'loop.csv', csv([row('PC-1', { parent_control_id: 'PC-2' })])), db.env);
    assert.equal(loop.code, 12, loop.stderr);
    assert.deepEqual(
      loop.body.error.details.errors.map((e: { line: number; message: string }) => [e.line, e.message]),
      [[2, 'parent cycle: PC-1 (line 2) → PC-2 (current) → PC-1; a control cannot be its own ancestor']],
    );
    const [pc1] = await query(db.url, "select parent_control_id from src_controls_ver_control where control_id = 'PC-1' and tx_to is null");
    assert.equal(pc1.parent_control_id, null, 'nothing written');
    // A skip-invalid load writes the rest.
    const skipped = await ingest(await write(db.dir, 'cycle2.csv', csv(cyclic)), db.env, '--skip-invalid');
    assert.equal(skipped.code, 0, skipped.stderr);
  });
});
