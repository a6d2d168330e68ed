/**
 * A full disk wherever nfr writes (a tmpfs filled up, root only) and on the database server: exit
 * 15 or HTTP 507 naming the place, and nothing partial left behind.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfrJson, serveNfr, testEnv } from './support/cli.js';
import { controlsDb, csv, row } from './support/controls-fixtures.js';
import { controlQuery, query, seed } from './support/data.js';
import { ERROR_CODES, NfrError, toNfrError } from '../src/errors.js';
import { runProgram } from '../src/util/process.js';
import { fileCluster } from './support/cluster.js';
import { filesUnder, fill, smallVolume } from './support/volume.js';

const cluster = fileCluster();
const ADMIN = 'admin-token-hardening-0123456789';

describe('disk full', () => {
  it('answers a full data volume during an upload with 507 DISK_FULL naming the path, and keeps nothing', async (t) => {
    const volume = await smallVolume(t, cluster.tempDir('tmpfs'), 256);
    if (!volume) return;
    try {
      const db = await controlsDb(cluster, 'fullupload');
      const env = { ...db.env, DATA_INGESTED_PATH: volume.dir, API_TOKENS: `admin:${ADMIN}` };
      const server = await serveNfr(env);
      try {
        const big = csv(Array.from({ length: 4000 }, (_, i) => row(`CTL-${i}`, { description: 'x'.repeat(200) })));
        assert.ok(big.length > 600_000);
        const form = new FormData();
        form.append('file', new Blob([big], { type: 'text/csv' }), 'big.csv');
        const res = await fetch(`${server.base}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: form, signal: AbortSignal.timeout(20_000) });
        const body = (await res.json()) as any;
        assert.equal(res.status, 507, JSON.stringify(body));
        assert.equal(body.error.code, 'DISK_FULL');
        assert.match(body.error.message, new RegExp(volume.dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
        assert.deepEqual(await controlQuery(db.url, 'select upload_id from nfr_upload'), [], 'no upload row, pending or otherwise');
        assert.deepEqual(await readdir(path.join(volume.dir, '.incoming')), [], 'no part file left');
        // Space again: the same upload goes through.
        await volume.grow(4096);
        const again = new FormData();
        again.append('file', new Blob([big], { type: 'text/csv' }), 'big.csv');
        const ok = await fetch(`${server.base}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: again, signal: AbortSignal.timeout(20_000) });
        assert.equal(ok.status, 202);
      } finally {
        await server.stop();
      }
    } finally {
      await volume.remove();
    }
  });

  it('fails a snapshot create on a full backup volume with exit 15, lists nothing and leaves nothing', async (t) => {
    const volume = await smallVolume(t, cluster.tempDir('tmpfs'), 512);
    if (!volume) return;
    try {
      const db = await cluster.createDatabase('fullcreate');
      await seed(db.url, { controls: 4000 });
      const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: volume.dir, NFR_HOME: cluster.tempDir('fullcreate-home') });
      const r = await nfrJson(['snapshot', 'create', '--name', 'too big'], env);
      assert.equal(r.code, 15, r.stderr);
      assert.equal(r.body.error.code, 'DISK_FULL');
      assert.match(r.body.error.message, /disk is full|no space left/i);
      await volume.grow(64 * 1024);
      const list = await nfrJson(['snapshot', 'list'], env);
      assert.deepEqual(list.body.snapshots, []);
      assert.deepEqual(await readdir(path.join(volume.dir, '.tmp')).catch(() => []), [], 'the partial dump is gone');
      const ok = await nfrJson(['snapshot', 'create', '--name', 'fits now'], env);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      await volume.remove();
    }
  });

  it('fails enrichment on a full model-runs volume with exit 15, keeping the ingested controls and no partial model-run file', async (t) => {
    const volume = await smallVolume(t, cluster.tempDir('tmpfs'), 1024);
    if (!volume) return;
    try {
      const db = await controlsDb(cluster, 'fullruns');
      await mkdir(db.dataDir, { recursive: true });
      await symlink(volume.dir, path.join(db.dataDir, 'model_runs'));
      await fill(volume.dir);
      const file = path.join(db.dir, 'controls.csv');
      await writeFile(file, csv(Array.from({ length: 300 }, (_, i) => row(`CTL-${i}`, { description: `Review privileged access for system ${i}. `.repeat(20) }))));
      const r = await nfrJson(['ingest', 'controls', file], db.env);
      assert.equal(r.code, 15, r.stderr);
      assert.equal(r.body.error.code, 'DISK_FULL');
      assert.match(r.body.error.message, /was ingested, but the enrichment models failed/);
      assert.match(r.body.error.message, /no space left on the device holding .*model_runs/);
      assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ref_control'))[0].n, 300, 'the ingestion itself is kept');
      assert.deepEqual(await filesUnder(volume.dir), ['filler'], 'no model-run file, whole or partial');
    } finally {
      await volume.remove();
    }
  });

  it('fails an index build on a full index volume with exit 15, keeping the previous generation and no partial one', async (t) => {
    const volume = await smallVolume(t, cluster.tempDir('tmpfs'), 2048);
    if (!volume) return;
    try {
      const db = await controlsDb(cluster, 'fullindex');
      const env = { ...db.env, NFR_INDEX_PATH: volume.dir };
      const file = path.join(db.dir, 'controls.csv');
      await writeFile(file, csv(Array.from({ length: 40 }, (_, i) => row(`CTL-${i}`))));
      assert.equal((await nfrJson(['ingest', 'controls', file, '--no-enrich'], env)).code, 0);
      const first = await nfrJson(['index'], env);
      assert.equal(first.code, 0, first.stderr);
      const before = await filesUnder(volume.dir);
      // Many more controls, and no room for them.
      await writeFile(file, csv(Array.from({ length: 3000 }, (_, i) => row(`CTL-${i}`, { description: `Control text number ${i} `.repeat(30) }))));
      assert.equal((await nfrJson(['ingest', 'controls', file, '--no-enrich'], env)).code, 0);
      await fill(volume.dir);
      const r = await nfrJson(['index'], env);
      assert.equal(r.code, 15, r.stderr);
      assert.equal(r.body.error.code, 'DISK_FULL');
      assert.match(r.body.error.message, /no space left on the device/);
      assert.deepEqual((await filesUnder(volume.dir)).sort(), [...before, 'filler'].sort(), 'the previous generation stays, nothing partial is left');
      const search = await nfrJson(['search', 'Title of CTL-7'], env);
      assert.equal(search.code, 0, search.stderr);
      assert.equal(search.body.results.length > 0, true, 'the previous generation still answers');
    } finally {
      await volume.remove();
    }
  });

  it("classifies the database server's full disk as DISK_FULL (exit 15, 507): its 53100, or pg_restore saying so", async () => {
    // Warm copies and restores write to the database server's disk, which a test cannot fill
    // without PostgreSQL itself stopping (a WAL write that fails is a PANIC): the two ways that
    // disk's fullness reaches nfr are checked here instead.
    const sql = toNfrError(Object.assign(new Error('could not extend file "base/16384/2619": No space left on device'), { code: '53100' }));
    assert.deepEqual([sql.code, sql.exitCode, ERROR_CODES[sql.code].http], ['DISK_FULL', 15, 507]);
    assert.match(sql.message, /database server's disk is full/);
    const script = "process.stderr.write('pg_restore: error: could not execute query: ERROR:  could not extend file \"base/1/2\": No space left on device\\n'); process.exit(1)";
    await assert.rejects(runProgram(process.execPath, ['-e', script]), (err: NfrError) => err.code === 'DISK_FULL' && /because a disk is full/.test(err.message) && /No space left/.test(err.message));
    await assert.rejects(runProgram(process.execPath, ['-e', 'process.exit(3)']), (err: NfrError) => err.code === 'TOOL_FAILED');
  });
});
