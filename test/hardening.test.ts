/**
 * Cases found by hostile testing (issue 11), each kept fixed here: NUL bytes in a CSV, prune
 * without a body, upload part files a killed server left, the maintenance session used by two
 * queries at once.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { hostname } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { nfrJson, serveNfr, spawnNfr, testEnv, waitForExit, waitForStderr } from './support/cli.js';
import { TestCluster } from './support/cluster.js';
import { baseContext, writeContext } from './support/context-fixtures.js';
import { controlsDb, csv, row, runNfrMeasured } from './support/controls-fixtures.js';
import { controlQuery, query, seed } from './support/data.js';
import { ERROR_CODES, NfrError, toNfrError } from '../src/errors.js';
import { runProgram } from '../src/util/process.js';
import { inTransaction } from '../src/jobs/control-db.js';
import { api } from './support/api.js';

let cluster: TestCluster;

before(async () => {
  cluster = await TestCluster.start();
});

after(async () => {
  await cluster?.stop();
});

const ADMIN = 'admin-token-hardening-0123456789';


describe('hardening', () => {
  it('reports a NUL byte in a CSV field as a row error naming line and field, and writes nothing', async () => {
    const db = await controlsDb(cluster, 'nul');
    const file = path.join(cluster.tempDir('nul-csv'), 'nul.csv');
    const rows = [row('CTL-1'), row('CTL-2', { description: 'before\u0000after' }), row('CTL-3')];
    await writeFile(file, csv(rows));
    for (const args of [['ingest', 'controls', file], ['pipeline', 'run', '--controls', file]]) {
      const r = await nfrJson(args, db.env);
      assert.equal(r.code, 12, `${args[0]}: ${r.stderr}`);
      const text = JSON.stringify(r.body);
      assert.match(text, /line 3/);
      assert.match(text, /description/);
      assert.match(text, /NUL/);
      assert.doesNotMatch(text, /invalid byte sequence/);
    }
    assert.equal((await query(db.url, 'select count(*)::int as n from src_controls_ref_control'))[0].n, 0);
  });

  it('treats a prune without a body as a dry run; deleting needs {"dry_run": false}', async () => {
    const db = await cluster.createDatabase('prunebody');
    await seed(db.url, { controls: 10 });
    const env = testEnv({
      DATABASE_URL: db.url,
      POSTGRES_BACKUP_PATH: cluster.tempDir('prunebody-backups'),
      NFR_HOME: cluster.tempDir('prunebody-home'),
      API_TOKENS: `admin:${ADMIN}`,
      NFR_RETENTION_DAILY: '0',
      NFR_RETENTION_WEEKLY: '0',
      NFR_RETENTION_MONTHLY: '0',
    });
    assert.equal((await nfrJson(['snapshot', 'create', '--name', 'would be pruned'], env)).code, 0);
    const server = await serveNfr(env);
    try {
      const prune = (init: RequestInit) => fetch(`${server.base}/api/v2/devdata/snapshots/prune`, { method: 'POST', ...init, headers: { authorization: `Bearer ${ADMIN}`, ...init.headers } }).then(async (r) => ({ status: r.status, json: (await r.json()) as any }));
      for (const init of [{}, { headers: { 'content-type': 'application/json' }, body: '{}' }]) {
        const r = await prune(init);
        assert.equal(r.status, 200);
        assert.equal(r.json.dry_run, true);
        assert.equal(r.json.deleted.length, 1, 'it says what would go');
        assert.equal((await nfrJson(['snapshot', 'list'], env)).body.snapshots.length, 1, 'and nothing went');
      }
      const applied = await prune({ headers: { 'content-type': 'application/json' }, body: JSON.stringify({ dry_run: false }) });
      assert.equal(applied.json.dry_run, false);
      assert.equal((await nfrJson(['snapshot', 'list'], env)).body.snapshots.length, 0);
    } finally {
      await server.stop();
    }
  });

  it('removes upload part files a killed server left, at server start and on recovery, but not live ones', async () => {
    const db = await cluster.createDatabase('parts');
    await seed(db.url, { controls: 5 });
    const data = cluster.tempDir('parts-data');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('parts-backups'), NFR_HOME: cluster.tempDir('parts-home'), DATA_INGESTED_PATH: data, API_TOKENS: `admin:${ADMIN}` });
    const incoming = path.join(data, '.incoming');
    await mkdir(incoming, { recursive: true });
    const host = encodeURIComponent(hostname());
    const uuid = () => crypto.randomUUID();
    const deadOwner = `999999@${host}.${uuid()}.part`;
    const liveOwner = `${process.pid}@${host}.${uuid()}.part`;
    const idleLegacy = `${uuid()}.part`;
    const freshLegacy = `${uuid()}.part`;
    for (const name of [deadOwner, liveOwner, idleLegacy, freshLegacy]) await writeFile(path.join(incoming, name), 'control_id,title\r\n');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600 * 1000);
    await utimes(path.join(incoming, idleLegacy), twoHoursAgo, twoHoursAgo);

    const server = await serveNfr(env);
    await server.stop();
    assert.deepEqual((await readdir(incoming)).sort(), [liveOwner, freshLegacy].sort());

    const another = `999998@${host}.${uuid()}.part`;
    await writeFile(path.join(incoming, another), 'x');
    const status = await nfrJson(['snapshot', 'recover'], env);
    assert.deepEqual(status.body.removed_upload_parts, [another]);
    assert.deepEqual((await readdir(incoming)).sort(), [liveOwner, freshLegacy].sort());
  });

  it('restores without sharing the maintenance session between two queries', async () => {
    const db = await cluster.createDatabase('onequery');
    await seed(db.url, { controls: 3000 });
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('onequery-backups'), NFR_HOME: cluster.tempDir('onequery-home') });
    const created = await nfrJson(['snapshot', 'create', '--name', 'x'], env);
    for (let i = 0; i < 2; i++) {
      const r = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.doesNotMatch(r.stderr, /already executing a query|DeprecationWarning/);
    }
  });

  it('refuses a second file in one upload, and stores nothing', async () => {
    const db = await controlsDb(cluster, 'twofiles');
    const env = { ...db.env, API_TOKENS: `admin:${ADMIN}` };
    const server = await serveNfr(env);
    try {
      const form = new FormData();
      form.append('file', new Blob([csv([row('CTL-1')])], { type: 'text/csv' }), 'one.csv');
      form.append('file', new Blob([csv([row('CTL-2')])], { type: 'text/csv' }), 'two.csv');
      const res = await fetch(`${server.base}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: form });
      const body = (await res.json()) as any;
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error.code, 'INVALID_INPUT');
      assert.match(body.error.message, /more than one file/);
      assert.deepEqual(await readdir(path.join(db.dataDir, 'controls')).catch(() => []), []);
      assert.deepEqual(await controlQuery(db.url, 'select upload_id from nfr_upload'), []);
      // One file still works.
      const one = new FormData();
      one.append('file', new Blob([csv([row('CTL-1')])], { type: 'text/csv' }), 'one.csv');
      const ok = await fetch(`${server.base}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: one });
      assert.equal(ok.status, 202);
    } finally {
      await server.stop();
    }
  });

  it('starts the server only with usable settings: a bad host is a configuration error, tokens are unambiguous, short ones warned about', async () => {
    const db = await cluster.createDatabase('serveconfig');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('serveconfig-backups'), NFR_HOME: cluster.tempDir('serveconfig-home'), API_TOKENS: `admin:${ADMIN}` });
    const badHost = await nfrJson(['serve', '--host', 'no-such-host.invalid', '--port', '0'], env);
    assert.equal(badHost.code, 2, badHost.stderr);
    assert.match(badHost.body.error.message, /cannot listen on no-such-host\.invalid/);
    const dup = await nfrJson(['serve', '--port', '0'], { ...env, API_TOKENS: `reader:${ADMIN},admin:${ADMIN}` });
    assert.equal(dup.code, 2);
    assert.match(dup.body.error.message, /each token given once/);
    assert.doesNotMatch(dup.stderr + JSON.stringify(dup.body), new RegExp(ADMIN));
    const child = spawnNfr(['serve', '--port', '0'], { ...env, API_TOKENS: 'admin:tiny-tok' });
    try {
      const banner = await waitForStderr(child, /shorter than 16 characters/);
      assert.doesNotMatch(banner, /tiny-tok/, 'the token itself is not printed');
    } finally {
      child.kill('SIGTERM');
      await waitForExit(child);
    }
  });

  it('records when an upload batch really started and finished', async () => {
    const db = await controlsDb(cluster, 'uploadtimes');
    const file = path.join(cluster.tempDir('uploadtimes-csv'), 'c.csv');
    await writeFile(file, csv(Array.from({ length: 3000 }, (_, i) => row(`CTL-${i}`))));
    const r = await nfrJson(['ingest', 'controls', file, '--no-enrich'], db.env);
    assert.equal(r.code, 0, r.stderr);
    const [u] = await controlQuery(db.url, `select created_at, started_at, finished_at from nfr_upload where kind = 'controls'`);
    assert.ok(u.finished_at > u.started_at, `finished ${u.finished_at.toISOString()} after started ${u.started_at.toISOString()}`);
  });

  it('refuses an unknown field in a context file as it refuses an unknown CSV column', async () => {
    const db = await controlsDb(cluster, 'jsonlfields');
    const root = cluster.tempDir('jsonlfields-context');
    const data = baseContext();
    data.functions[1] = { ...data.functions[1], nmae: 'Operations (misspelt field)' };
    writeContext(root, '2026-11-30', data);
    const r = await nfrJson(['ingest', 'context', '--path', root], db.env);
    assert.equal(r.code, 12, r.stderr);
    const text = JSON.stringify(r.body);
    assert.match(text, /functions\.jsonl/);
    assert.match(text, /"line":2/);
    assert.match(text, /"field":"nmae"/);
    assert.match(text, /unknown field/);
  });

  it('answers a full data volume during an upload with 507 DISK_FULL naming the path, and keeps nothing', async (t) => {
    const volume = await smallVolume(t, 256);
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
    const volume = await smallVolume(t, 512);
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
    const volume = await smallVolume(t, 1024);
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
    const volume = await smallVolume(t, 2048);
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

  it('survives the control database ending a session mid-transaction: that call fails, the next runs on a new session', async () => {
    // The job queue's polls and heartbeats run in transactions on checked-out clients; a session
    // ended between two of their queries used to raise an 'error' event nothing listened to, and
    // the server process died (seen as "fetch failed" when a test terminated the control sessions).
    const db = await cluster.createDatabase('endedsession');
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => {});
    try {
      const pids: number[] = [];
      const failed = inTransaction(pool, async (client) => {
        pids.push((await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid);
        await cluster.admin((c) => c.query('select pg_terminate_backend($1)', [pids[0]]));
        // The termination arrives while the client sits idle in its transaction.
        await new Promise((r) => setTimeout(r, 300));
        await client.query('select 1');
      });
      await assert.rejects(failed, /terminat|connection error/i);
      const again = await inTransaction(pool, async (client) => (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid);
      assert.notEqual(again, pids[0], 'the ended session was destroyed, not handed out again');
      assert.equal(pool.totalCount, 1);
    } finally {
      await pool.end();
    }
  });

  it('answers 503 naming the control database when the job queue does not answer, starts no work, and runs jobs again once it is back', async () => {
    const db = await cluster.createDatabase('nocontrol');
    await seed(db.url, { controls: 20 });
    const backups = cluster.tempDir('nocontrol-backups');
    const server = await serveNfr(testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: backups, NFR_HOME: cluster.tempDir('nocontrol-home'), API_TOKENS: `admin:${ADMIN}` }));
    const control = `${db.name}_nfr`;
    const create = () =>
      fetch(`${server.base}/api/v2/devdata/snapshots/create`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'queued?' }) });
    try {
      // The control database stops taking sessions, and the ones it had are ended.
      await cluster.admin(async (c) => {
        await c.query(`alter database "${control}" allow_connections false`);
        await c.query('select pg_terminate_backend(pid) from pg_stat_activity where datname = $1', [control]);
      });
      const res = await create();
      const body = (await res.json()) as any;
      assert.equal(res.status, 503, JSON.stringify(body));
      assert.equal(body.error.code, 'DATABASE');
      assert.match(body.error.message, new RegExp(`control database "${control}" does not answer`));
      const jobs = await fetch(`${server.base}/api/v2/jobs`, { headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(jobs.status, 503);
      // Uploads are recorded in the control database too: without it an upload is refused, and nothing is stored.
      const form = new FormData();
      form.append('file', new Blob(['control_id,title\nQ-1,Queued nowhere\n'], { type: 'text/csv' }), 'q.csv');
      const upload = await fetch(`${server.base}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: form });
      const refused = (await upload.json()) as any;
      assert.equal(upload.status, 503, JSON.stringify(refused));
      assert.equal(refused.error.code, 'DATABASE');
      assert.match(refused.error.message, new RegExp(`control database "${control}", where uploads are recorded, does not answer.*nothing was stored`));
      // The live database's reads do not depend on it.
      const status = await fetch(`${server.base}/api/v2/pipelines/status`, { headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(status.status, 200);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual((await readdir(backups)).filter((n) => n.startsWith('SNAP-')), [], 'no snapshot was started');

      await cluster.admin((c) => c.query(`alter database "${control}" allow_connections true`));
      assert.deepEqual(await controlQuery(db.url, 'select upload_id from nfr_upload'), [], 'no record of the refused upload');
      const again = await create();
      const accepted = (await again.json()) as any;
      assert.equal(again.status, 202, JSON.stringify(accepted));
      for (let i = 0; ; i++) {
        const job = (await (await fetch(`${server.base}/api/v2/jobs/${accepted.job_id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
        if (job.status === 'completed') break;
        assert.notEqual(job.status, 'failed', JSON.stringify(job));
        assert.ok(i < 600, `job still ${job.status}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.deepEqual(((await (await fetch(`${server.base}/api/v2/devdata/snapshots`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any).snapshots.map((m: { id: string }) => m.id), [accepted.snapshot_id]);
    } finally {
      await cluster.admin((c) => c.query(`alter database "${control}" allow_connections true`)).catch(() => {});
      await server.stop();
    }
  });

  it('ingests an upload on its own thread: the job says whose lock it waits for, then loads the rows', async () => {
    const db = await controlsDb(cluster, 'uploadthread');
    const env = { ...db.env, API_TOKENS: `admin:${ADMIN}` };
    const server = await serveNfr(env);
    const blocker = spawnNfr(['snapshot', 'create', '--name', 'held by the CLI'], { ...env, NFR_FAULT_POINT: 'dumped' });
    try {
      await waitForStderr(blocker, /nfr-fault-point: dumped/);
      const form = new FormData();
      form.append('file', new Blob([csv([row('CTL-T1'), row('CTL-T2')])], { type: 'text/csv' }), 'two.csv');
      const res = await fetch(`${server.base}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: form });
      assert.equal(res.status, 202);
      const { job_id } = (await res.json()) as { job_id: string };
      const job = async () => (await (await fetch(`${server.base}/api/v2/jobs/${job_id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
      let waiting: any;
      for (let i = 0; i < 100 && !/waiting for the lock held by/.test(waiting?.current_step ?? ''); i++) {
        await new Promise((r) => setTimeout(r, 100));
        waiting = await job();
      }
      assert.match(waiting.current_step, /waiting for the lock held by create/);
      blocker.kill('SIGKILL');
      await waitForExit(blocker);
      let done: any;
      for (let i = 0; i < 300 && !['completed', 'failed'].includes(done?.status); i++) {
        await new Promise((r) => setTimeout(r, 100));
        done = await job();
      }
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      assert.equal(done.result.controls.inserted, 2);
      assert.equal((await query(db.url, "select count(*)::int as n from src_controls_ver_control where control_id like 'CTL-T%' and tx_to is null"))[0].n, 2);
    } finally {
      blocker.kill('SIGKILL');
      await server.stop();
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

  it('answers a wrong method with 405 and Allow, and refusals of the framework with the one error body', async () => {
    const db = await cluster.createDatabase('methods');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('methods-backups'), NFR_HOME: cluster.tempDir('methods-home'), API_TOKENS: `admin:${ADMIN}` });
    const server = await serveNfr(env);
    try {
      const call = async (method: string, pathname: string, headers: Record<string, string> = {}) => {
        const r = await api({ url: server.base }, method, pathname, { token: ADMIN, headers });
        return { ...r, allow: r.headers.get('allow') };
      };
      for (const [method, pathname, allow] of [
        ['GET', '/api/v2/pipelines/controls/ingest', 'POST'],
        ['DELETE', '/api/v2/devdata/snapshots', 'GET, HEAD'],
        ['GET', '/api/v2/devdata/snapshots/SNAP-2026-0001/restore', 'POST'],
        ['PUT', '/api/v2/pipelines/controls/ingest', 'POST'],
      ] as const) {
        const r = await call(method, pathname);
        assert.equal(r.status, 405, `${method} ${pathname}: ${r.text}`);
        assert.equal(r.allow, allow);
        assert.equal(r.json.error.code, 'METHOD_NOT_ALLOWED');
      }
      assert.equal((await call('GET', '/api/v2/no/such/route')).status, 404);
      const big = await call('GET', '/api/v2/devdata/snapshots', { 'x-padding': 'a'.repeat(20_000) });
      assert.equal(big.status, 431);
      assert.equal(big.json.error.code, 'INVALID_INPUT');
      const longParam = await call('GET', `/api/v2/devdata/snapshots/${'S'.repeat(5000)}`);
      assert.ok(longParam.status >= 400 && longParam.status < 500, longParam.text);
      assert.equal(typeof longParam.json?.error?.code, 'string', longParam.text);
      assert.equal(typeof longParam.json?.error?.message, 'string', longParam.text);
    } finally {
      await server.stop();
    }
  });

  it('bounds every field: a long one is a row error, a huge one stops the parse with its line, in bounded memory', async () => {
    const db = await controlsDb(cluster, 'bigfields');
    const dir = cluster.tempDir('bigfields-csv');
    const long = path.join(dir, 'long.csv');
    await writeFile(long, csv([row('CTL-1'), row('CTL-2', { description: 'y'.repeat(150_000) }), row('CTL-3')]));
    const skipped = await nfrJson(['ingest', 'controls', long, '--skip-invalid', '--no-enrich'], db.env);
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.deepEqual(skipped.body.errors.map((e: any) => [e.line, e.field]), [[3, 'description']]);
    assert.match(skipped.body.errors[0].message, /150,000 characters; at most 100,000/);
    assert.deepEqual((await query(db.url, 'select control_id from src_controls_ref_control order by 1')).map((r) => r.control_id), ['CTL-1', 'CTL-3']);

    const huge = path.join(dir, 'huge.csv');
    await writeFile(huge, csv([row('CTL-4'), row('CTL-5', { description: 'z'.repeat(45_000_000) }), row('CTL-6')]));
    const refused = await runNfrMeasured(['ingest', 'controls', huge, '--json'], db.env);
    assert.equal(refused.code, 12, refused.stderr);
    assert.match(refused.stdout, /line 3: a record longer than 2,000,000 characters/);
    if (refused.peakRssBytes > 0) assert.ok(refused.peakRssBytes < 256 * 1024 * 1024, `peak RSS ${(refused.peakRssBytes / 1048576).toFixed(0)} MiB`);
    assert.equal((await query(db.url, `select count(*)::int as n from src_controls_ref_control where control_id in ('CTL-4', 'CTL-5', 'CTL-6')`))[0].n, 0);
  });
});

/**
 * A tmpfs of `kib` KiB to fill up (root only); skips the test, saying why, where it cannot be
 * mounted. `grow` remounts it larger, `remove` unmounts it.
 */
async function smallVolume(t: { skip: (reason: string) => void }, kib: number): Promise<{ dir: string; grow: (kib: number) => Promise<void>; remove: () => Promise<void> } | undefined> {
  if (process.getuid?.() !== 0) {
    t.skip('a full disk is simulated with a tmpfs, which needs root');
    return undefined;
  }
  const dir = cluster.tempDir('tmpfs');
  const mount = (args: string[]) => new Promise<number>((resolve) => spawn('mount', args, { stdio: 'ignore' }).on('close', (code) => resolve(code ?? 1)).on('error', () => resolve(1)));
  if ((await mount(['-t', 'tmpfs', '-o', `size=${kib}k,mode=0755`, 'tmpfs', dir])) !== 0) {
    t.skip('mount -t tmpfs failed (no CAP_SYS_ADMIN here?): cannot simulate a full disk');
    return undefined;
  }
  return {
    dir,
    grow: async (size) => {
      assert.equal(await mount(['-o', `remount,size=${size}k`, dir]), 0);
    },
    remove: async () => {
      await new Promise<void>((resolve) => spawn('umount', ['-l', dir], { stdio: 'ignore' }).on('close', () => resolve()).on('error', () => resolve()));
    },
  };
}

/**
 * Fills a volume: writes `filler` until the disk refuses (ENOSPC), then one-byte files until not
 * even a new file's first page fits, so that the next write of any size fails.
 */
async function fill(dir: string): Promise<void> {
  const full = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOSPC') throw err;
    return 'full' as const;
  };
  await writeFile(path.join(dir, 'filler'), Buffer.alloc(64 * 1024 * 1024)).catch(full);
  for (let i = 1; i < 1000; i++) if ((await writeFile(path.join(dir, `filler-${i}`), 'x').catch(full)) === 'full') return;
  throw new Error(`${dir} did not fill up`);
}

/** Every file under `dir`, relative, sorted (hidden ones too). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !/^filler-\d+$/.test(e.name))
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .sort();
}
