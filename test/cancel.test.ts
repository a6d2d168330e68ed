/**
 * Cancelling jobs (issue 22 item 3): a queued job ends `cancelled` at once; a running create,
 * restore (before its swap) and ingestion stop at their next safe point and leave nothing: no
 * snapshot listed, the live database as it was, no row of the batch. The cancel may reach any
 * server, not only the one running the job. A restore past its swap completes and says so.
 * `NFR_FAULT_POINT=<point>:pause` holds the job at an exact step until it is cancelled.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { controlCounts, csv, row } from './support/controls-fixtures.js';
import { fingerprint, mutate, query } from './support/data.js';
import { api, API_TOKENS, OPERATOR, pollJob, READER, serve, waitForJobStatus, type Server } from './support/api.js';
import { seededDatabase } from './support/setup.js';

const cluster = fileCluster();

async function sharedEnv(prefix: string): Promise<Env> {
  return (await seededDatabase(cluster, prefix, { controls: 200, ingested: true, env: { API_TOKENS, NFR_HEARTBEAT_SECONDS: '1' } })).env;
}

async function withServers<T>(servers: Server[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) await s.stop();
  }
}

const listed = async (env: Env) => (await readdir(env.POSTGRES_BACKUP_PATH!)).filter((n) => n.startsWith('SNAP-')).sort();

describe('cancelling jobs', () => {
  it('cancels a queued job at once (CLI) and a running create on another server (API): nothing is listed', async () => {
    const env = await sharedEnv('cancel-create');
    // Server a pauses every create after its dump; b runs nothing of the kind, it only answers.
    const a = await serve({ ...env, NFR_FAULT_POINT: 'dumped:pause' });
    const b = await serve(env);
    await withServers([a, b], async () => {
      const first = await api(a, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'to cancel' }, token: OPERATOR });
      assert.equal(first.status, 202, first.text);
      await a.waitForStderr(/nfr-fault-point: dumped/);
      const running = await waitForJobStatus(b, first.json.job_id, 'running');
      assert.equal(running.server_id !== null, true);

      // Queued behind it: cancelled at once, from the command line.
      const second = await api(b, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'queued' }, token: OPERATOR });
      assert.equal(second.status, 202, second.text);
      const queued = await nfrJson(['job', 'cancel', second.json.job_id, '--json'], env);
      assert.equal(queued.code, 0, queued.stderr);
      assert.equal(queued.body.status, 'cancelled');
      assert.match(queued.body.cancelled_by, /^cli:/);
      assert.equal(queued.body.error.code, 'CANCELLED');

      // Readers may not cancel; an operator may, on the server that does not run the job.
      const denied = await api(b, 'POST', `/api/v2/jobs/${first.json.job_id}/cancel`, { token: READER });
      assert.equal(denied.status, 403, denied.text);
      const asked = await api(b, 'POST', `/api/v2/devdata/snapshots/job/${first.json.job_id}/cancel`, { token: OPERATOR });
      assert.equal(asked.status, 200, asked.text);
      assert.equal(asked.json.cancelled_by, 'operator token (API)');
      const done = await pollJob(b, first.json.job_id, 30_000);
      assert.equal(done.status, 'cancelled', JSON.stringify(done));
      assert.equal(done.error.code, 'CANCELLED');
      assert.match(done.error.message, /cancelled by operator token \(API\)/);
      assert.deepEqual(await listed(env), [], 'a cancelled create lists nothing');
      assert.deepEqual(await readdir(`${env.POSTGRES_BACKUP_PATH}/.tmp`).catch(() => []), [], 'and leaves no temporary directory');

      // A finished job cannot be cancelled; the queue goes on with the next job.
      const again = await api(b, 'POST', `/api/v2/jobs/${first.json.job_id}/cancel`, { token: OPERATOR });
      assert.equal(again.status, 400, again.text);
      assert.match(again.json.error.message, /is cancelled/);
      const cli = await nfrJson(['job', 'cancel', first.json.job_id, '--json'], env);
      assert.equal(cli.code, 12);
    });
  });

  it('cancels a restore before its swap (live database untouched) and lets one past its swap complete, saying so', async () => {
    const env = await sharedEnv('cancel-restore');
    let snapshotId: string;
    {
      const plain = await serve(env);
      await withServers([plain], async () => {
        const created = await api(plain, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'base' } });
        assert.equal((await pollJob(plain, created.json.job_id)).status, 'completed');
        snapshotId = created.json.snapshot_id;
      });
    }
    await mutate(env.DATABASE_URL!);
    const before = await fingerprint(env.DATABASE_URL!);
    const a = await serve({ ...env, NFR_FAULT_POINT: 'before-swap:pause' });
    await withServers([a], async () => {
      const restore = await api(a, 'POST', `/api/v2/devdata/snapshots/${snapshotId}/restore`, { body: { skip_backup: true } });
      assert.equal(restore.status, 202, restore.text);
      await a.waitForStderr(/nfr-fault-point: before-swap/);
      const cancelled = await nfrJson(['job', 'cancel', restore.json.job_id, '--json'], env);
      assert.equal(cancelled.code, 0, cancelled.stderr);
      assert.equal(cancelled.body.status, 'cancelled', JSON.stringify(cancelled.body));
      assert.deepEqual(await fingerprint(env.DATABASE_URL!), before, 'the live database is untouched');
      const database = new URL(env.DATABASE_URL!).pathname.slice(1);
      const staging = await query(cluster.url('postgres'), 'select datname from pg_database where datname like $1', [`${database}%staging%`]);
      assert.deepEqual(staging, [], 'no staging database is left');
    });
    const b = await serve({ ...env, NFR_FAULT_POINT: 'swapped:pause' });
    await withServers([b], async () => {
      const restore = await api(b, 'POST', `/api/v2/devdata/snapshots/${snapshotId}/restore`, { body: { skip_backup: true } });
      await b.waitForStderr(/nfr-fault-point: swapped/);
      const asked = await api(b, 'POST', `/api/v2/pipelines/jobs/${restore.json.job_id}/cancel`, { token: OPERATOR });
      assert.equal(asked.status, 200, asked.text);
      const done = await pollJob(b, restore.json.job_id, 60_000);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.match(done.result.cancel_too_late, /after its last safe point/);
      assert.notDeepEqual(await fingerprint(env.DATABASE_URL!), before, 'the restore went live');
    });
  });

  it('cancels an ingestion before its commit: nothing of the batch is written', async () => {
    const env = await sharedEnv('cancel-ingest');
    const countsBefore = await controlCounts(env.DATABASE_URL!);
    const a = await serve({ ...env, NFR_FAULT_POINT: 'before-commit:pause' });
    await withServers([a], async () => {
      const form = new FormData();
      const ids = Array.from({ length: 50 }, (_, i) => `CAN-${i}`);
      form.append('file', new Blob([csv(ids.map((id) => row(id, { owning_function_id: 'F-0001', owning_location_id: '', related_function_ids: '', related_location_ids: '', risk_theme_ids: '' })))], { type: 'text/csv' }), 'cancel.csv');
      const res = await fetch(`${a.url}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` }, body: form });
      const accepted = (await res.json()) as any;
      assert.equal(res.status, 202, JSON.stringify(accepted));
      await a.waitForStderr(/nfr-fault-point: before-commit/);
      const asked = await api(a, 'POST', `/api/v2/pipelines/jobs/${accepted.job_id}/cancel`, { token: OPERATOR });
      assert.equal(asked.status, 200, asked.text);
      const done = await pollJob(a, accepted.job_id, 30_000);
      assert.equal(done.status, 'cancelled', JSON.stringify(done));
      assert.deepEqual(await controlCounts(env.DATABASE_URL!), countsBefore, 'no row of the batch was written');
      assert.deepEqual(await query(env.DATABASE_URL!, "select count(*)::int as n from src_controls_ref_control where control_id like 'CAN-%'"), [{ n: 0 }]);
    });
  });
});
