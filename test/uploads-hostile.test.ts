/**
 * Uploads and ingestion against hostile input (issue 11 and after): NUL bytes, upload part files a
 * killed server left, a second file in one upload, unknown fields, the upload thread, field bounds.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfrJson, serveNfr, spawnNfr, testEnv, waitForExit, waitForStderr } from './support/cli.js';
import { baseContext, writeContext } from './support/context-fixtures.js';
import { controlsDb, csv, row, runNfrMeasured } from './support/controls-fixtures.js';
import { controlQuery, query, seed } from './support/data.js';
import { fileCluster } from './support/cluster.js';
import { waitFor } from './support/wait.js';

const cluster = fileCluster();
const ADMIN = 'admin-token-hardening-0123456789';

describe('uploads hostile', () => {
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
      const waiting = await waitFor(async () => {
        const j = await job();
        return /waiting for the lock held by/.test(j.current_step ?? '') && j;
      }, { what: 'the upload job to say whose lock it waits for', timeoutMs: 10_000 });
      assert.match(waiting.current_step, /waiting for the lock held by create/);
      blocker.kill('SIGKILL');
      await waitForExit(blocker);
      const done = await waitFor(async () => {
        const j = await job();
        return ['completed', 'failed'].includes(j.status) && j;
      }, { what: 'the upload job to finish', timeoutMs: 30_000 });
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      assert.equal(done.result.controls.inserted, 2);
      assert.equal((await query(db.url, "select count(*)::int as n from src_controls_ver_control where control_id like 'CTL-T%' and tx_to is null"))[0].n, 2);
    } finally {
      blocker.kill('SIGKILL');
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
