/**
 * One catalog, two places (issue 21 item 3): a snapshot that `list` shows only in the offsite
 * repository (evicted by NFR_LOCAL_KEEP) answers the questions asked before restoring it — its
 * diff against live (from history: the manifest is enough) and the console's restore plan —
 * instead of a 404 "not found … see `nfr snapshot list`" for a snapshot that list shows.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nfrJson, serveNfr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { withUrl } from './support/data.js';
import { seededDatabase } from './support/setup.js';
import { TestSwift } from './support/swift.js';

let swift: TestSwift;
let keyFile: string;

const cluster = fileCluster(async () => {
  keyFile = path.join(cluster.tempDir('keys'), 'repository.key');
  await writeFile(keyFile, 'correct horse battery staple, catalog\n', { mode: 0o600 });
});

before(async () => {
  swift = await TestSwift.start();
});

after(async () => {
  await swift?.stop();
});

async function locations(env: Env): Promise<Map<string, string>> {
  const r = await nfrJson(['snapshot', 'list'], env);
  assert.equal(r.code, 0, r.stderr);
  return new Map(r.body.snapshots.map((s: { id: string; location: string }) => [s.id, s.location]));
}

describe('a snapshot kept only offsite', () => {
  it('diffs against live from history and has a restore plan; a diff that needs its archive says to fetch it back', async () => {
    const bucket = `nfr-catalog-${process.pid}`;
    await swift.createBucket(bucket);
    const token = 'catalog-admin-token-0123456789';
    const db = await seededDatabase(cluster, 'catalog', {
      controls: 60,
      env: { ...swift.env(`s3://${bucket}/nfr`), NFR_REPOSITORY_KEY_FILE: keyFile, NFR_LOCAL_KEEP: '1', API_TOKENS: `admin:${token}` },
    });

    const first = await nfrJson(['snapshot', 'create', '--name', 'before the change'], db.env);
    assert.equal(first.code, 0, first.stderr);
    const id: string = first.body.id;
    // A change after the snapshot, written as ingestion writes it: the current version closed.
    const closed = await withUrl(db.url, async (c) => {
      const r = await c.query<{ control_id: string }>('update src_controls_ver_control set tx_to = now() where tx_to is null and control_id = (select min(control_id) from src_controls_ver_control) returning control_id');
      return r.rows.map((row) => row.control_id);
    });
    assert.equal(closed.length, 1);

    const whileLocal = await nfrJson(['snapshot', 'diff', '--id', id], db.env);
    assert.equal(whileLocal.code, 0, whileLocal.stderr);
    assert.equal(whileLocal.body.method, 'history');
    assert.ok(JSON.stringify(whileLocal.body.changes).includes(closed[0] as string), JSON.stringify(whileLocal.body.changes));

    const second = await nfrJson(['snapshot', 'create', '--name', 'after the change'], db.env);
    assert.equal(second.code, 0, second.stderr);
    assert.equal((await locations(db.env)).get(id), 'offsite');

    const offsiteOnly = await nfrJson(['snapshot', 'diff', '--id', id], db.env);
    assert.equal(offsiteOnly.code, 0, offsiteOnly.stderr);
    assert.equal(offsiteOnly.body.method, 'history');
    assert.deepEqual(offsiteOnly.body.summary, whileLocal.body.summary);
    assert.deepEqual(offsiteOnly.body.changes, whileLocal.body.changes);
    assert.deepEqual(offsiteOnly.body.tables, whileLocal.body.tables);

    // Between the two snapshots, one of them only offsite: the same changes from history.
    const between = await nfrJson(['snapshot', 'diff', '--id', id, '--to', second.body.id], db.env);
    assert.equal(between.code, 0, between.stderr);
    assert.deepEqual(between.body.summary, whileLocal.body.summary);

    // A scratch restore needs the archive on local disk: OFFSITE_ONLY (exit 20), nothing left.
    const scratch = await nfrJson(['snapshot', 'diff', '--id', id, '--method', 'scratch'], db.env);
    assert.equal(scratch.code, 20, scratch.stderr);
    assert.equal(scratch.body.error.code, 'OFFSITE_ONLY');
    assert.match(scratch.body.error.message, new RegExp(`nfr snapshot warm --id ${id}`));
    const leftovers = await withUrl(db.url, async (c) => (await c.query("select datname from pg_database where datname like '%nfr_diff%'")).rows);
    assert.deepEqual(leftovers, []);

    // Nothing of it is warm (warm copies stay local): cool answers so, not "not found".
    const cool = await nfrJson(['snapshot', 'cool', '--id', id], db.env);
    assert.equal(cool.code, 0, cool.stderr);
    assert.deepEqual(cool.body, { snapshot_id: id, cooled: false, freed_bytes: 0 });
    const gone = await nfrJson(['snapshot', 'cool', '--id', 'SNAP-2020-9999'], db.env);
    assert.equal(gone.code, 4, gone.stderr);

    // Pushing it again has nothing to upload: the bucket's committed copy, not "not found".
    const push = await nfrJson(['snapshot', 'push', '--id', id], db.env);
    assert.equal(push.code, 0, push.stderr);
    assert.equal(push.body.snapshot_id, id);
    assert.equal(push.body.uploaded, false);
    assert.equal(push.body.encrypted, true);
    assert.equal(push.body.files, first.body.files.length);
    assert.equal((await locations(db.env)).get(id), 'offsite');
    const pushMissing = await nfrJson(['snapshot', 'push', '--id', 'SNAP-2020-9999'], db.env);
    assert.equal(pushMissing.code, 4, pushMissing.stderr);

    const server = await serveNfr(db.env);
    try {
      const res = await fetch(`${server.base}/api/v2/devdata/snapshots/${id}/restore-plan`, { headers: { authorization: `Bearer ${token}` } });
      const plan = (await res.json()) as { snapshot_id: string; rows: number; tables: number };
      assert.equal(res.status, 200, JSON.stringify(plan));
      assert.equal(plan.snapshot_id, id);
      assert.equal(plan.rows, first.body.tables.reduce((n: number, t: { rows: number }) => n + t.rows, 0));
      const diff = await fetch(`${server.base}/api/v2/devdata/snapshots/${id}/diff?to=live`, { headers: { authorization: `Bearer ${token}` } });
      const body = (await diff.json()) as { summary: unknown };
      assert.equal(diff.status, 200, JSON.stringify(body));
      assert.deepEqual(body.summary, whileLocal.body.summary);
      const missing = await fetch(`${server.base}/api/v2/devdata/snapshots/SNAP-2020-9999/restore-plan`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(missing.status, 404);
    } finally {
      await server.stop();
    }
  });
});
