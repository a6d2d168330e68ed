/**
 * The server against hostile requests and a failing control database: prune without a body,
 * unusable settings, sessions ended mid-transaction, a queue that does not answer, wrong methods;
 * and a restore that never shares its maintenance session.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import pg from 'pg';
import { nfrJson, serveNfr, spawnNfr, testEnv, waitForExit, waitForStderr } from './support/cli.js';
import { controlQuery, seed } from './support/data.js';
import { inTransaction } from '../src/jobs/control-db.js';
import { api } from './support/api.js';
import { fileCluster } from './support/cluster.js';
import { waitFor } from './support/wait.js';

const cluster = fileCluster();
const ADMIN = 'admin-token-hardening-0123456789';

describe('server hostile', () => {
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
        await waitFor(() => cluster.admin(async (c) => (await c.query('select 1 from pg_stat_activity where pid = $1', [pids[0]])).rowCount === 0), { what: 'the terminated backend to end' });
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

      await cluster.admin((c) => c.query(`alter database "${control}" allow_connections true`));
      // Work starts only from a job recorded in the control database: none was, so none can
      // start later (no wait needed to prove a negative), and nothing was written.
      assert.deepEqual(await controlQuery(db.url, 'select job_id, kind from nfr_job'), [], 'no job was queued for the refused requests');
      assert.deepEqual((await readdir(backups)).filter((n) => n.startsWith('SNAP-')), [], 'no snapshot was started');
      assert.deepEqual(await controlQuery(db.url, 'select upload_id from nfr_upload'), [], 'no record of the refused upload');
      const again = await create();
      const accepted = (await again.json()) as any;
      assert.equal(again.status, 202, JSON.stringify(accepted));
      await waitFor(async () => {
        const job = (await (await fetch(`${server.base}/api/v2/jobs/${accepted.job_id}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any;
        assert.notEqual(job.status, 'failed', JSON.stringify(job));
        return job.status === 'completed';
      }, { what: 'the snapshot job to complete' });
      assert.deepEqual(((await (await fetch(`${server.base}/api/v2/devdata/snapshots`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as any).snapshots.map((m: { id: string }) => m.id), [accepted.snapshot_id]);
    } finally {
      await cluster.admin((c) => c.query(`alter database "${control}" allow_connections true`)).catch(() => {});
      await server.stop();
    }
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
});
