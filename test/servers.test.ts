/**
 * Several `nfr serve` on one PostgreSQL and one snapshot repository, as production runs them
 * behind a load balancer: jobs live in the control database's queue, any server answers for any
 * job, a restart leaves the other servers' jobs alone, a killed server's job is failed by a live
 * one (heartbeat), jobs run one after the other in order, and a restore through one server keeps
 * the other's reads to 200 or 503.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { waitForExit, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint, mutate, query } from './support/data.js';
import { MISSED_HEARTBEATS } from '../src/jobs/liveness.js';
import { api, API_TOKENS, pollJob, READER, serve, waitForJobStatus, type Server } from './support/api.js';
import { waitFor } from './support/wait.js';
import { seededDatabase } from './support/setup.js';

const cluster = fileCluster();

/** One live database and one snapshot repository, shared; a heartbeat a second, so death shows in 3 s. */
async function sharedEnv(prefix: string, controls = 200): Promise<Env> {
  return (await seededDatabase(cluster, prefix, { controls, ingested: true, env: { API_TOKENS, NFR_HEARTBEAT_SECONDS: '1' } })).env;
}

async function createSnapshot(server: Server, name: string): Promise<{ job_id: string; snapshot_id: string }> {
  const r = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { body: { name } });
  assert.equal(r.status, 202, r.text);
  return r.json;
}

/** Runs fn, then stops every server it started (`started` grows as fn starts more). */
async function withServers<T>(started: Server[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const s of started) {
      if (s.child.exitCode === null && s.child.signalCode === null) await s.stop();
    }
  }
}

describe('several servers on one database', () => {
  it('keeps jobs in the control database: a job started on one server is polled on the other, and a restore job stays pollable after its swap', async () => {
    const env = await sharedEnv('two-poll');
    const a = await serve(env);
    const b = await serve(env);
    await withServers([a, b], async () => {
      const created = await createSnapshot(a, 'from a');
      const done = await pollJob(b, created.job_id);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal(done.result.id, created.snapshot_id);
      assert.match(done.server, /^.+:\d+$/, 'the record names the server that ran it');
      // The queue lives in <db>_nfr, beside the live database, not in it.
      const database = new URL(env.DATABASE_URL!).pathname.slice(1);
      const control = cluster.url(`${database}_nfr`);
      const rows = await query(control, 'select kind, status from nfr_job where job_id = $1', [created.job_id]);
      assert.deepEqual(rows, [{ kind: 'snapshot.create', status: 'completed' }]);
      assert.equal((await query(env.DATABASE_URL!, "select count(*)::int as n from pg_tables where tablename = 'nfr_job'"))[0].n, 0);

      // A restore replaces the live database; its job (on either server) is still there after.
      await mutate(env.DATABASE_URL!);
      const restore = await api(b, 'POST', `/api/v2/devdata/snapshots/${created.snapshot_id}/restore`, { body: { skip_backup: true } });
      assert.equal(restore.status, 202, restore.text);
      const restored = await pollJob(a, restore.json.job_id);
      assert.equal(restored.status, 'completed', JSON.stringify(restored));
      assert.equal((await pollJob(b, restore.json.job_id)).status, 'completed');
      const listed = await api(a, 'GET', '/api/v2/jobs', { token: READER });
      assert.deepEqual(
        listed.json.jobs.map((j: { job_id: string }) => j.job_id),
        [restore.json.job_id, created.job_id],
      );
    });
  });

  it('a restart of one server leaves the job another live server runs alone; killing that server fails its job within a minute, and a live server takes the next', async () => {
    const env = await sharedEnv('two-kill');
    // B stops inside its job (after the dump, before the manifest) until it is killed.
    const b = await serve({ ...env, NFR_FAULT_POINT: 'dumped' });
    let a = await serve(env);
    const started = [a, b];
    await withServers(started, async () => {
      // A stops for a moment (its restart follows), so the job is B's to take.
      await a.stop();
      const stuck = await createSnapshot(b, 'stuck on b');
      await b.waitForStderr(/nfr-fault-point: dumped/);
      const running = await api(b, 'GET', '/api/v2/jobs?status=running', { token: READER });
      assert.equal(running.json.jobs.length, 1);
      const bLabel = running.json.jobs[0].server;
      assert.equal(running.json.jobs[0].job_id, stuck.job_id);

      // A starts again (a restart): B's job is B's, it stays running through several of B's
      // heartbeats, and A shows it with B's name.
      a = await serve(env);
      started.push(a);
      const queued = await createSnapshot(a, 'queued behind it');
      // More of B's heartbeats than A's staleness bound (MISSED_HEARTBEATS): had they not
      // counted, A would have failed the job by now.
      const beats = new Set<string>();
      await waitFor(async () => {
        const job = (await api(a, 'GET', `/api/v2/jobs/${stuck.job_id}`, { token: READER })).json;
        assert.equal(job.status, 'running', JSON.stringify(job));
        if (job.heartbeat_at) beats.add(job.heartbeat_at);
        return beats.size > MISSED_HEARTBEATS;
      }, { what: "B's heartbeats", timeoutMs: 60_000 });
      const seen = await api(a, 'GET', '/api/v2/jobs?status=running', { token: READER });
      assert.deepEqual(
        seen.json.jobs.map((j: { job_id: string; server: string }) => [j.job_id, j.server]),
        [[stuck.job_id, bLabel]],
      );
      assert.equal((await api(a, 'GET', `/api/v2/jobs/${queued.job_id}`, { token: READER })).json.status, 'pending', 'one job at a time: the next one waits');

      // B dies without a word. Servers on one machine see each other's pids; make B one A cannot
      // see (as on another host), so only the missing heartbeat can tell A. A fails B's job, then
      // runs the next.
      const database = new URL(env.DATABASE_URL!).pathname.slice(1);
      const moved = await query(cluster.url(`${database}_nfr`), "update nfr_server set pid_space = 'another-host' where server_id = $1 returning server_id", [running.json.jobs[0].server_id]);
      assert.equal(moved.length, 1);
      const killedAt = Date.now();
      b.child.kill('SIGKILL');
      await waitForExit(b.child);
      const failed = await waitForJobStatus(a, stuck.job_id, 'failed', 60_000);
      const noticedMs = Date.now() - killedAt;
      assert.ok(noticedMs < 60_000, `failed after ${noticedMs} ms`);
      assert.equal(failed.error.code, 'INTERRUPTED');
      assert.match(failed.error.message, new RegExp(`server ${bLabel.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} stopped`));
      assert.match(failed.error.message, /at step "dumping"/);
      const next = await pollJob(a, queued.job_id);
      assert.equal(next.status, 'completed', JSON.stringify(next));
      assert.equal(next.server, (await api(a, 'GET', '/health', { token: null })).json.server);
      // The killed create left nothing a later operation trips over.
      const catalog = await api(a, 'GET', '/api/v2/devdata/snapshots', { token: READER });
      assert.deepEqual(
        catalog.json.snapshots.map((s: { id: string }) => s.id),
        [queued.snapshot_id],
      );
    });
  });

  it('starts two servers at once on a fresh database, and runs simultaneous creates on both one after the other, in the order they were queued', async () => {
    const env = await sharedEnv('two-create');
    // Both create the control database and migrate it (and pg-boss's schema) at the same moment.
    const starts = await Promise.allSettled([serve(env), serve(env)]);
    const started = starts.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    await withServers(started, async () => {
      for (const r of starts) if (r.status === 'rejected') throw r.reason;
      const [a, b] = started as [Server, Server];
      const [x, y, z] = await Promise.all([createSnapshot(a, 'x'), createSnapshot(b, 'y'), createSnapshot(a, 'z')]);
      const jobs = await Promise.all([x, y, z].map((j, i) => pollJob(i % 2 ? a : b, j.job_id)));
      for (const j of jobs) assert.equal(j.status, 'completed', JSON.stringify(j));
      const spans = jobs.map((j) => [Date.parse(j.started_at), Date.parse(j.finished_at), Date.parse(j.created_at)] as const).sort((p, q) => p[0] - q[0]);
      for (let i = 1; i < spans.length; i++) {
        assert.ok(spans[i]![0] >= spans[i - 1]![1], `job ${i} started before the previous one finished: ${JSON.stringify(spans)}`);
        assert.ok(spans[i]![2] >= spans[i - 1]![2], 'jobs ran in the order they were queued');
      }
      const catalog = await api(b, 'GET', '/api/v2/devdata/snapshots', { token: READER });
      assert.deepEqual(
        catalog.json.snapshots.map((s: { id: string }) => s.id).sort(),
        [x.snapshot_id, y.snapshot_id, z.snapshot_id].sort(),
      );
    });
  });

  it('serves reads on one server while the other restores (only 200 or 503)', async () => {
    const env = await sharedEnv('two-restore', 2000);
    const a = await serve(env);
    const b = await serve(env);
    await withServers([a, b], async () => {
      const before = await fingerprint(env.DATABASE_URL!);
      const created = await createSnapshot(a, 'base');
      assert.equal((await pollJob(a, created.job_id)).status, 'completed');
      await mutate(env.DATABASE_URL!);
      const statuses = new Map<number, number>();
      let reading = true;
      const reads = (async () => {
        while (reading) {
          const r = await api(b, 'GET', '/api/v2/pipelines/status', { token: READER });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        }
      })();
      const restore = await api(a, 'POST', `/api/v2/devdata/snapshots/${created.snapshot_id}/restore`, { body: { skip_backup: true } });
      assert.equal(restore.status, 202, restore.text);
      const done = await pollJob(b, restore.json.job_id);
      const answeredAtDone = statuses.get(200) ?? 0;
      await waitFor(() => (statuses.get(200) ?? 0) >= answeredAtDone + 3, { what: 'reads answered after the restore' });
      reading = false;
      await reads;
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.deepEqual([...statuses.keys()].filter((s) => s !== 200 && s !== 503), [], `statuses: ${JSON.stringify([...statuses])}`);
      assert.ok((statuses.get(200) ?? 0) > 10, `few reads answered: ${JSON.stringify([...statuses])}`);
      assert.deepEqual(await fingerprint(env.DATABASE_URL!), before);
    });
  });
});
