/**
 * `nfr snapshot diff` and its API against a real cluster: the exact ids and attributes a restore
 * would remove, bring back and revert after a real ingestion that adds, changes and closes
 * controls — read from the transaction-time history and from a scratch restore, which must agree —
 * across a schema change, between two snapshots, after the live database diverged (no history to
 * read), from a warm copy, paged with a cursor, and through the API (history at once, a scratch
 * diff as a job).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import pg from 'pg';
import { nfr, nfrJson, serveNfr, testEnv } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { controlsDb, csv, row, type ControlsDb } from './support/controls-fixtures.js';
import { query } from './support/data.js';
import { waitFor } from './support/wait.js';

const cluster = fileCluster();
async function ingest(db: ControlsDb, name: string, rows: Record<string, string>[], ...flags: string[]) {
  const file = path.join(db.dir, name);
  await writeFile(file, csv(rows));
  const r = await nfrJson(['ingest', 'controls', file, '--no-enrich', ...flags], db.env);
  assert.equal(r.code, 0, r.stderr);
  return r.body;
}

async function snapshot(env: Record<string, string | undefined>, name: string): Promise<string> {
  const r = await nfrJson(['snapshot', 'create', '--name', name], env);
  assert.equal(r.code, 0, r.stderr);
  return r.body.id;
}

async function diff(env: Record<string, string | undefined>, ...args: string[]) {
  const r = await nfrJson(['snapshot', 'diff', ...args], env);
  assert.equal(r.code, 0, r.stderr);
  return r.body;
}

/** What must agree whichever way a diff was computed. */
const comparable = (d: any) => ({ schema: d.schema, tables: d.tables, summary: d.summary, changes: d.changes, next_cursor: d.next_cursor });
const ids = (d: any, entity: string, change: string) => d.changes.filter((c: any) => c.entity === entity && c.change === change).map((c: any) => c.id);

async function leftovers(live: string): Promise<string[]> {
  return (await cluster.databases()).filter((d) => d.startsWith(`${live}__nfr_diff`));
}

const V1 = ['C-1', 'C-2', 'C-3', 'C-4', 'C-5', 'C-6'].map((id) => row(id));
// C-2's title and C-3's frequency and title change, C-4 and C-5 are closed, C-7 and C-8 are new.
const V2 = [
  row('C-1'),
  row('C-2', { title: 'Title of C-2, reworded' }),
  row('C-3', { title: 'Title of C-3, reworded', frequency: 'monthly' }),
  row('C-6'),
  row('C-7'),
  row('C-8'),
];

describe('snapshot diff', () => {
  let db: ControlsDb;
  let a: string;
  let b: string;
  let fromHistory: any;

  before(async () => {
    db = await controlsDb(cluster, 'diff');
    await ingest(db, 'v1.csv', V1);
    a = await snapshot(db.env, 'before v2');
    const v2 = await ingest(db, 'v2.csv', V2, '--close-missing');
    assert.deepEqual(v2.controls, { inserted: 2, updated: 2, unchanged: 2, closed: 2 });
    b = await snapshot(db.env, 'after v2');
  });

  it('reads from history exactly what a restore would remove, bring back and revert, with the attributes that differ', async () => {
    fromHistory = await diff(db.env, '--id', a, '--json');
    assert.equal(fromHistory.method, 'history', fromHistory.method_reason);
    assert.equal(fromHistory.to, 'live');
    assert.deepEqual(fromHistory.summary.controls, { removes: 2, brings_back: 2, reverts: 2 });
    for (const e of ['functions', 'locations', 'risk_themes', 'assessment_units']) assert.deepEqual(fromHistory.summary[e], { removes: 0, brings_back: 0, reverts: 0 }, e);
    assert.deepEqual(ids(fromHistory, 'controls', 'removes'), ['C-7', 'C-8']);
    assert.deepEqual(ids(fromHistory, 'controls', 'brings_back'), ['C-4', 'C-5']);
    assert.deepEqual(ids(fromHistory, 'controls', 'reverts'), ['C-2', 'C-3']);
    const c3 = fromHistory.changes.find((c: any) => c.id === 'C-3');
    const byName = Object.fromEntries(c3.attributes.map((x: any) => [x.name, x]));
    assert.deepEqual(byName.title, { name: 'title', snapshot: 'Title of C-3', to: 'Title of C-3, reworded' });
    assert.deepEqual(byName.frequency, { name: 'frequency', snapshot: 'quarterly', to: 'monthly' });
    assert.ok(!('tx_from' in byName) && !('version_id' in byName) && !('upload_id' in byName), 'when and from where a version came is not a difference');
    const c2 = fromHistory.changes.find((c: any) => c.id === 'C-2');
    assert.ok(!c2.attributes.some((x: any) => x.name === 'frequency'));
    assert.deepEqual(fromHistory.schema, { snapshot: fromHistory.schema.code, to: fromHistory.schema.code, code: fromHistory.schema.code, relation: 'same', force_required: false, restorable: true });
    const versions = fromHistory.tables.find((t: any) => t.name === 'src_controls_ver_control');
    assert.deepEqual(versions, { schema: 'public', name: 'src_controls_ver_control', snapshot_rows: 6, to_rows: 10, difference: -4 });
    const refs = fromHistory.tables.find((t: any) => t.name === 'src_controls_ref_control');
    assert.deepEqual([refs.snapshot_rows, refs.to_rows], [6, 8]);
    assert.equal(fromHistory.next_cursor, null);
  });

  it('gets the same answer from a scratch restore, and leaves no scratch database behind', async () => {
    const scratch = await diff(db.env, '--id', a, '--method', 'scratch', '--json');
    assert.equal(scratch.method, 'scratch');
    assert.deepEqual(comparable(scratch), comparable(fromHistory));
    assert.deepEqual(await leftovers(db.name), []);
  });

  it('pages the ids with a cursor, and filters by entity and change', async () => {
    const seen: any[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: any = await diff(db.env, '--id', a, '--limit', '4', '--json', ...(cursor ? ['--cursor', cursor] : []));
      assert.ok(page.changes.length <= 4);
      seen.push(...page.changes);
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor);
    assert.equal(pages, 2);
    assert.deepEqual(seen, fromHistory.changes);
    const reverts = await diff(db.env, '--id', a, '--entity', 'controls', '--change', 'reverts', '--json');
    assert.deepEqual(reverts.changes.map((c: any) => c.id), ['C-2', 'C-3']);
    const bad = await nfrJson(['snapshot', 'diff', '--id', a, '--cursor', 'not-a-cursor'], db.env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr + JSON.stringify(bad.body), /invalid diff cursor/);
    const human = await nfr(['snapshot', 'diff', '--id', a], db.env);
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /controls: remove 2 added since, bring back 2 closed since, revert 2 changed since/);
    assert.match(human.stdout, /controls reverts C-3: .*frequency "monthly" → "quarterly"/);
  });

  it('diffs two snapshots, in both directions, from history and from scratch restores alike', async () => {
    const ab = await diff(db.env, '--id', a, '--to', b, '--json');
    assert.equal(ab.method, 'history', ab.method_reason);
    assert.equal(ab.to, b);
    assert.deepEqual(ab.changes, fromHistory.changes);
    const ba = await diff(db.env, '--id', b, '--to', a, '--json');
    assert.deepEqual(ids(ba, 'controls', 'removes'), ['C-4', 'C-5']);
    assert.deepEqual(ids(ba, 'controls', 'brings_back'), ['C-7', 'C-8']);
    assert.deepEqual(ba.changes.find((c: any) => c.id === 'C-2').attributes.find((x: any) => x.name === 'title'), { name: 'title', snapshot: 'Title of C-2, reworded', to: 'Title of C-2' });
    const scratch = await diff(db.env, '--id', b, '--to', a, '--method', 'scratch', '--json');
    assert.equal(scratch.method, 'scratch');
    assert.deepEqual(comparable(scratch), comparable(ba));
    // B against live: nothing changed since B.
    const same = await diff(db.env, '--id', b, '--json');
    assert.deepEqual(same.changes, []);
    assert.ok(same.tables.every((t: any) => t.difference === 0), JSON.stringify(same.tables.filter((t: any) => t.difference !== 0)));
    assert.deepEqual(await leftovers(db.name), []);
  });

  it('falls back to a copy once the live database no longer descends from the snapshot, and uses a warm copy when there is one', async () => {
    // Restoring A and ingesting something else: the live history up to B's mark is no longer B's.
    const restored = await nfrJson(['snapshot', 'restore', '--id', a, '--yes', '--skip-backup'], db.env);
    assert.equal(restored.code, 0, restored.stderr);
    await ingest(db, 'v3.csv', [...V1, row('C-9')]);
    const diverged = await diff(db.env, '--id', b, '--json');
    assert.equal(diverged.method, 'scratch');
    assert.match(diverged.method_reason, /does not descend from/);
    assert.deepEqual(ids(diverged, 'controls', 'removes'), ['C-4', 'C-5', 'C-9'], 'B closed C-4 and C-5, which the restore of A brought back');
    assert.deepEqual(ids(diverged, 'controls', 'brings_back'), ['C-7', 'C-8']);
    assert.deepEqual(ids(diverged, 'controls', 'reverts'), ['C-2', 'C-3']);
    // A was taken before; the live database still descends from it.
    assert.equal((await diff(db.env, '--id', a, '--json')).method, 'history');
    const warmed = await nfrJson(['snapshot', 'warm', '--id', b], db.env);
    assert.equal(warmed.code, 0, warmed.stderr);
    const warm = await diff(db.env, '--id', b, '--json');
    assert.equal(warm.method, 'warm');
    assert.deepEqual(comparable(warm), comparable(diverged));
    assert.deepEqual(await leftovers(db.name), []);
  });

  it('answers through the API: from history at once, otherwise a job whose result is the diff', async () => {
    // Live now descends from A with C-9 added; one more makes two pages of one.
    await ingest(db, 'v4.csv', [row('C-10')]);
    const token = 'reader-token-diff-0123456789';
    const server = await serveNfr({ ...db.env, API_TOKENS: `reader:${token}` });
    try {
      const get = async (p: string) => {
        const res = await fetch(server.base + p, { headers: { authorization: `Bearer ${token}` } });
        return { status: res.status, body: (await res.json()) as any };
      };
      const now = await get(`/api/v2/devdata/snapshots/${a}/diff?to=live&limit=1`);
      assert.equal(now.status, 200, JSON.stringify(now.body));
      assert.equal(now.body.method, 'history');
      assert.deepEqual(now.body.summary.controls, { removes: 2, brings_back: 0, reverts: 0 });
      assert.deepEqual(now.body.changes, [{ entity: 'controls', change: 'removes', id: 'C-10' }]);
      assert.ok(now.body.next_cursor);
      const rest = await get(`/api/v2/devdata/snapshots/${a}/diff?limit=100&cursor=${now.body.next_cursor}`);
      assert.equal(rest.status, 200);
      assert.deepEqual(rest.body.changes, [{ entity: 'controls', change: 'removes', id: 'C-9' }]);
      assert.equal(rest.body.next_cursor, null);
      const queued = await get(`/api/v2/devdata/snapshots/${a}/diff?to=${b}`);
      assert.equal(queued.status, 202, JSON.stringify(queued.body));
      assert.ok(['warm', 'scratch'].includes(queued.body.method));
      const job = await waitFor(
        async () => {
          const j = (await get(`/api/v2/devdata/snapshots/job/${queued.body.job_id}/status`)).body;
          return j.status === 'completed' || j.status === 'failed' ? j : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 100, what: `diff job ${queued.body.job_id} to end` },
      );
      assert.equal(job.status, 'completed', JSON.stringify(job));
      assert.deepEqual(ids(job.result, 'controls', 'reverts'), ['C-2', 'C-3']);
      const bad = await get(`/api/v2/devdata/snapshots/${a}/diff?entity=planets`);
      assert.equal(bad.status, 400);
      const spec = await get('/api/v2/openapi.json');
      assert.equal(spec.status, 200);
      assert.ok(spec.body.paths['/api/v2/devdata/snapshots/{id}/diff']?.get, 'in the OpenAPI document');
    } finally {
      await server.stop();
    }
  });
});

describe('snapshot diff across a schema change', () => {
  it('says a restore needs --force, and reads the data changes from history and a scratch restore alike', async () => {
    const db = await cluster.createDatabase('diffschema');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('diffschema-backups'), NFR_HOME: cluster.tempDir('diffschema-home') });
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      const { runner } = await import('node-pg-migrate');
      const { MIGRATIONS_DIR, MIGRATIONS_TABLE } = await import('../src/postgres/migrate.js');
      await runner({ dbClient: client, dir: MIGRATIONS_DIR, direction: 'up', count: 1, migrationsTable: MIGRATIONS_TABLE, log: () => {} });
      await client.query("insert into src_controls_ref_control (control_id) select 'OLD-' || g from generate_series(1, 5) g");
      await client.query("insert into src_controls_ver_control (control_id, title, status, text_hash, record_hash) select 'OLD-' || g, 'Old control ' || g, 'active', md5(g::text), md5('r' || g) from generate_series(1, 5) g");
    } finally {
      await client.end();
    }
    const old = await snapshot(env, 'schema-0001');
    const migrated = await nfrJson(['db', 'migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    // Versioned changes, as ingestion makes them: close the old version, open the new one.
    await query(db.url, "update src_controls_ver_control set tx_to = now() where control_id in ('OLD-1', 'OLD-2') and tx_to is null");
    await query(db.url, "insert into src_controls_ver_control (control_id, title, status, text_hash) values ('OLD-1', 'Old control 1, renamed', 'active', md5('1'))");
    await query(db.url, "insert into src_controls_ref_control (control_id) values ('NEW-1')");
    await query(db.url, "insert into src_controls_ver_control (control_id, title, status, text_hash) values ('NEW-1', 'New control', 'active', md5('n'))");

    const d = await diff(env, '--id', old, '--json');
    assert.equal(d.method, 'history', d.method_reason);
    assert.equal(d.schema.snapshot, '0001_initial-schema');
    assert.equal(d.schema.to, '0004_history-time-indexes');
    assert.equal(d.schema.force_required, true);
    assert.deepEqual(d.changes, [
      { entity: 'controls', change: 'reverts', id: 'OLD-1', attributes: [{ name: 'title', snapshot: 'Old control 1', to: 'Old control 1, renamed' }] },
      { entity: 'controls', change: 'brings_back', id: 'OLD-2' },
      { entity: 'controls', change: 'removes', id: 'NEW-1' },
    ].sort((x, y) => Buffer.compare(Buffer.from(x.id), Buffer.from(y.id))));
    const scratch = await diff(env, '--id', old, '--method', 'scratch', '--json');
    assert.deepEqual(comparable(scratch), comparable(d), 'the scratch copy still has record_hash: a column one side lacks is not a data change');
  });
});
