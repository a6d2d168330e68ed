/**
 * A cancel in the instant of an ingestion's commit (issue 22 item 3): the job's commit gate reads
 * the cancel flag under the job's row lock and keeps the lock until the batch has committed, so
 * the outcome is one of two, never a mix: the cancel came first (nothing of the batch written,
 * the job `cancelled`) or it came after (the batch committed, the job `completed`, saying the
 * cancel came too late). `NFR_FAULT_POINT=<point>:hold` stops the server at the gate until SIGUSR2:
 * `commit-gate` before it takes the row lock, `commit-instant` holding it, about to commit.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { csv, row } from './support/controls-fixtures.js';
import { query } from './support/data.js';
import { seededDatabase } from './support/setup.js';
import { api, API_TOKENS, OPERATOR, pollJob, serve, type Server } from './support/api.js';
import { waitFor } from './support/wait.js';

let env: Env;

const cluster = fileCluster(async () => {
  env = (await seededDatabase(cluster, 'cancel-commit', { controls: 50, ingested: true, env: { API_TOKENS, NFR_HEARTBEAT_SECONDS: '1' } })).env;
});

async function withServer<T>(fault: string, fn: (server: Server) => Promise<T>): Promise<T> {
  const server = await serve({ ...env, NFR_FAULT_POINT: fault });
  try {
    return await fn(server);
  } finally {
    if (server.child.exitCode === null && server.child.signalCode === null) await server.stop();
  }
}

/** Queues the ingestion of `count` new controls `PREFIX-n`; answers the job id. */
async function ingest(server: Server, prefix: string, count: number): Promise<string> {
  const form = new FormData();
  const ids = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  form.append('file', new Blob([csv(ids.map((id) => row(id, { owning_function_id: 'F-0001', owning_location_id: '', related_function_ids: '', related_location_ids: '', risk_theme_ids: '' })))], { type: 'text/csv' }), `${prefix}.csv`);
  const res = await fetch(`${server.url}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` }, body: form });
  const accepted = (await res.json()) as { job_id: string };
  assert.equal(res.status, 202, JSON.stringify(accepted));
  return accepted.job_id;
}

const written = async (prefix: string) => (await query(env.DATABASE_URL!, 'select count(*)::int as n from src_controls_ref_control where control_id like $1', [`${prefix}-%`]))[0]!.n as number;

const controlUrl = () => cluster.url(`${new URL(env.DATABASE_URL!).pathname.slice(1)}_nfr`);

describe('a cancel at the instant of an ingestion commit', () => {
  it('a cancel the work has not seen yet is found under the row lock: nothing written, the job cancelled', async () => {
    await withServer('commit-gate:hold', async (server) => {
      const jobId = await ingest(server, 'EARLY', 30);
      // The batch is staged and the thread past its own cancel check, asking the gate.
      await server.waitForStderr(/nfr-fault-point: commit-gate/);
      const asked = await api(server, 'POST', `/api/v2/pipelines/jobs/${jobId}/cancel`, { token: OPERATOR });
      assert.equal(asked.status, 200, asked.text);
      server.child.kill('SIGUSR2');
      const done = await pollJob(server, jobId, 30_000);
      assert.equal(done.status, 'cancelled', JSON.stringify(done));
      assert.equal(done.error.code, 'CANCELLED');
      assert.equal(done.cancelled_by, 'operator token (API)');
      assert.equal(await written('EARLY'), 0, 'no row of the batch was written');
      const [job] = await query(controlUrl(), 'select committed_at from nfr_job where job_id = $1', [jobId]);
      assert.equal(job!.committed_at, null);
    });
  });

  it('a cancel during the commit waits for it: the batch committed, the job completed, the cancel too late', async () => {
    await withServer('commit-instant:hold', async (server) => {
      const jobId = await ingest(server, 'LATE', 30);
      // The gate holds the job's row lock, the flag read, the batch about to commit.
      await server.waitForStderr(/nfr-fault-point: commit-instant/);
      const asking = api(server, 'POST', `/api/v2/pipelines/jobs/${jobId}/cancel`, { token: OPERATOR });
      // The cancel is in, waiting for the job's row: it is ordered after the commit.
      await waitFor(
        async () => {
          const waiting = await query(controlUrl(), "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like 'update nfr_job set%cancel_requested_at%'");
          return waiting[0]!.n === 1;
        },
        { what: 'the cancel waiting for the job row lock' },
      );
      server.child.kill('SIGUSR2');
      const asked = await asking;
      assert.equal(asked.status, 200, asked.text);
      const done = await pollJob(server, jobId, 30_000);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.match(done.result.cancel_too_late, /^operator token \(API\) asked to cancel the job after its last safe point/);
      assert.equal(done.cancelled_by, 'operator token (API)');
      assert.equal(await written('LATE'), 30, 'the whole batch is there');
      const [job] = await query(controlUrl(), 'select committed_at, cancel_requested_at from nfr_job where job_id = $1', [jobId]);
      assert.ok(job!.committed_at instanceof Date && job!.cancel_requested_at instanceof Date, JSON.stringify(job));
    });
  });
});
