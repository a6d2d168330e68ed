/**
 * Webhook alerts (issue 22 items 2 and 5): a receiver on loopback gets, with two servers
 * running, a failed create (the backup volume full: a tmpfs), a stale snapshot, the 80 % and
 * 95 % volume levels and their resolution — each exactly once, signed with the secret; an
 * unreachable receiver delays nothing and its failures are logged and counted; `nfr alert test`
 * says what each receiver answered. Conditions are checked every second here
 * (NFR_ALERT_CHECK_SECONDS=1).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { appendFile, rm, statfs } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { nfrJson, testEnv, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { mutate, query, seed } from './support/data.js';
import { api, API_TOKENS, pollJob, READER, serve, type Server } from './support/api.js';
import { until } from './support/wait.js';
import { receiver } from './support/webhook.js';

const cluster = fileCluster();
const SECRET = 'alert-secret-0123456789';


/** A socket that accepts connections and never answers. */
async function blackhole(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(() => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(() => resolve()))) };
}

async function withServers<T>(servers: Server[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) await s.stop();
  }
}

/** Writes `filler` so that the volume at `dir` is `percent` % used, or has only `leaveBytes` free. */
async function fillTo(dir: string, filler: string, percent: number, leaveBytes = 0): Promise<void> {
  // Grown by appending: removing it first would dip below the level a check may be looking at.
  const fs = await statfs(dir);
  const used = (fs.blocks - fs.bfree) * fs.bsize;
  const total = fs.blocks * fs.bsize;
  const want = Math.max(0, Math.min(Math.floor((total * percent) / 100), total - leaveBytes) - used);
  await appendFile(filler, Buffer.alloc(want));
}

const canMount = process.getuid?.() === 0;

describe('webhook alerts', { concurrency: true }, () => {
  it('sends a failed create, the volume at 80 % and 95 % and back, and a stale snapshot once each from two servers, signed', { skip: canMount ? false : 'needs root to mount a tmpfs' }, async () => {
    const hook = await receiver();
    const mountPoint = cluster.tempDir('alerts-volume');
    mkdirSync(mountPoint, { recursive: true });
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]);
    assert.equal(mounted.status, 0, `mount: ${mounted.stderr}`);
    try {
      const backups = `${mountPoint}/backups`;
      const db = await cluster.createDatabase('alerts-two');
      await seed(db.url, { controls: 100 });
      const env: Env = testEnv({
        DATABASE_URL: db.url,
        POSTGRES_BACKUP_PATH: backups,
        DATA_INGESTED_PATH: cluster.tempDir('alerts-two-data'),
        NFR_HOME: cluster.tempDir('alerts-two-home'),
        API_TOKENS,
        NFR_HEARTBEAT_SECONDS: '1',
        NFR_ALERT_WEBHOOK_URL: hook.url,
        NFR_ALERT_WEBHOOK_SECRET: SECRET,
        NFR_ALERT_CHECK_SECONDS: '1',
        NFR_ALERT_SNAPSHOT_MAX_AGE: '20s',
      });
      const first = await nfrJson(['snapshot', 'create', '--name', 'first', '--json'], env);
      assert.equal(first.code, 0, first.stderr);
      const a = await serve(env);
      const b = await serve(env);
      const got = (event: string, status = 'firing') => hook.received.filter((r) => r.body.event === event && r.body.status === status);
      await withServers([a, b], async () => {
        const filler = `${mountPoint}/filler`;
        await fillTo(mountPoint, filler, 85);
        await until('the 80 % warning', () => got('backup_volume_warning').length > 0);
        await fillTo(mountPoint, filler, 96);
        await until('the 95 % alert', () => got('backup_volume_critical').length > 0);
        // Room for the id the request reserves, not for the dump.
        await fillTo(mountPoint, filler, 100, 16 * 1024);
        const create = await api(a, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'no room' } });
        assert.equal(create.status, 202, create.text);
        const failed = await pollJob(b, create.json.job_id, 60_000);
        assert.equal(failed.status, 'failed');
        assert.equal(failed.error.code, 'DISK_FULL', JSON.stringify(failed.error));
        await until('the failed job', () => got('job_failed').length > 0);
        await rm(filler);
        await until('both volume alerts resolved', () => got('backup_volume_warning', 'resolved').length > 0 && got('backup_volume_critical', 'resolved').length > 0);
        await until('the stale snapshot', () => got('snapshot_stale').length > 0, 60_000);
        const fresh = await api(b, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'fresh' } });
        assert.equal((await pollJob(a, fresh.json.job_id)).status, 'completed');
        await until('the stale snapshot resolved', () => got('snapshot_stale', 'resolved').length > 0);
        // Both servers checked many times meanwhile: still exactly one of each.
        const seenBy = new Set<string>();
        for (const [event, status] of [
          ['backup_volume_warning', 'firing'],
          ['backup_volume_critical', 'firing'],
          ['job_failed', 'firing'],
          ['backup_volume_warning', 'resolved'],
          ['backup_volume_critical', 'resolved'],
          ['snapshot_stale', 'firing'],
          ['snapshot_stale', 'resolved'],
        ] as const) {
          const these = got(event, status);
          assert.equal(these.length, 1, `${event} ${status}: ${JSON.stringify(these.map((r) => r.body))}`);
          seenBy.add(these[0]!.body.server);
        }
        const job = got('job_failed')[0]!.body;
        assert.equal(job.severity, 'critical');
        assert.equal(job.details.job_id, create.json.job_id);
        assert.equal(job.details.operation, 'snapshot');
        assert.match(job.summary, /DISK_FULL/);
        assert.match(job.text, /^\[CRITICAL\] nfr job_failed: /);
        for (const r of hook.received) {
          assert.deepEqual(Object.keys(r.body).sort(), ['details', 'event', 'occurred_at', 'server', 'severity', 'status', 'summary', 'text']);
          assert.equal(r.headers['x-nfr-signature'], `sha256=${createHmac('sha256', SECRET).update(r.raw).digest('hex')}`);
          assert.equal(r.headers['content-type'], 'application/json');
        }
        const metrics = await api(a, 'GET', '/metrics', { token: READER });
        assert.match(metrics.text, /nfr_snapshot_latest_completed_timestamp_seconds \d+/);
        assert.match(metrics.text, /nfr_backup_volume_used_ratio 0\.\d+/);
      });
    } finally {
      await hook.close();
      spawnSync('umount', ['-l', mountPoint]);
      rmSync(mountPoint, { recursive: true, force: true });
    }
  });

  it('sends missed ticks and a failed scheduled run once each, naming the schedule', async () => {
    const hook = await receiver();
    const db = await cluster.createDatabase('alerts-sched');
    await seed(db.url, { controls: 50 });
    const env: Env = testEnv({
      DATABASE_URL: db.url,
      POSTGRES_BACKUP_PATH: cluster.tempDir('alerts-sched-backups'),
      DATA_INGESTED_PATH: cluster.tempDir('alerts-sched-data'),
      NFR_HOME: cluster.tempDir('alerts-sched-home'),
      API_TOKENS,
      NFR_ALERT_WEBHOOK_URL: hook.url,
      NFR_ALERT_CHECK_SECONDS: '1',
      NFR_SCHEDULE_CHECK_SECONDS: '1',
    });
    try {
      const added = await nfrJson(['schedule', 'add', '--name', 'hourly-ish', '--cron', '* * * * *', '--json'], env);
      assert.equal(added.code, 0, added.stderr);
      // Added ten minutes ago, while no server was up.
      const control = cluster.url(`${new URL(db.url).pathname.slice(1)}_nfr`);
      await query(control, "update nfr_schedule set last_tick_at = now() - interval '10 minutes'");
      const server = await serve({ ...env, NFR_FAULT_POINT: 'dumped:fail' });
      await withServers([server], async () => {
        const missed = await until('the missed ticks', () => hook.received.find((r) => r.body.event === 'schedule_missed'));
        assert.equal(missed.body.severity, 'warning');
        assert.equal(missed.body.details.schedule, 'hourly-ish');
        assert.ok(missed.body.details.missed_ticks >= 8, JSON.stringify(missed.body));
        const failed = await until('the failed run', () => hook.received.find((r) => r.body.event === 'job_failed'));
        assert.equal(failed.body.details.operation, 'scheduled_run');
        assert.equal(failed.body.details.schedule, 'hourly-ish');
        assert.match(failed.body.summary, /of schedule "hourly-ish" failed: INTERNAL injected failure/);
        // Every minute ticks: on a slow machine the next run may already be running (and fail the same way).
        const lastRun = await until('the last run listed as failed', async () => {
          const listed = await nfrJson(['schedule', 'list', '--json'], env);
          const run = listed.body.schedules[0].last_run;
          return run?.job_status === 'failed' ? run : undefined;
        });
        assert.match(lastRun.error.message, /injected failure/);
      });
      // The ten minutes without a server are sent once. A later tick may be missed too on a slow
      // machine (pg-boss fires a tick only in its first minute), which is another event: every
      // missed tick is sent once, none twice.
      const missedTicks = hook.received.filter((r) => r.body.event === 'schedule_missed').map((r) => r.body.details.tick_at);
      assert.equal(missedTicks.filter((t) => t === missedTicks[0]).length, 1, JSON.stringify(missedTicks));
      assert.equal(new Set(missedTicks).size, missedTicks.length, JSON.stringify(missedTicks));
      assert.equal(hook.received.filter((r) => r.body.event === 'job_failed' && r.body.details.job_id === hook.received.find((x) => x.body.event === 'job_failed')!.body.details.job_id).length, 1);
    } finally {
      await hook.close();
    }
  });

  it('sends a restore that left the index out of sync, and a missing pre-restore backup until it exists', async () => {
    const hook = await receiver();
    const db = await cluster.createDatabase('alerts-restore');
    await seed(db.url, { controls: 50 });
    const env: Env = testEnv({
      DATABASE_URL: db.url,
      POSTGRES_BACKUP_PATH: cluster.tempDir('alerts-restore-backups'),
      DATA_INGESTED_PATH: cluster.tempDir('alerts-restore-data'),
      NFR_HOME: cluster.tempDir('alerts-restore-home'),
      API_TOKENS,
      NFR_ALERT_WEBHOOK_URL: hook.url,
      NFR_ALERT_CHECK_SECONDS: '1',
    });
    try {
      const s1 = await nfrJson(['snapshot', 'create', '--name', 's1', '--json'], env);
      assert.equal(s1.code, 0, s1.stderr);
      await mutate(db.url);
      const indexed = await nfrJson(['index', '--json'], env);
      assert.equal(indexed.code, 0, indexed.stderr);
      // The restore's own backup (dumped after the swap) fails: the replaced database is the only copy.
      const server = await serve({ ...env, NFR_FAULT_POINT: 'backup-after-swap:fail' });
      await withServers([server], async () => {
        const restore = await api(server, 'POST', `/api/v2/devdata/snapshots/${s1.body.id}/restore`, { body: {} });
        assert.equal(restore.status, 202, restore.text);
        const done = await pollJob(server, restore.json.job_id);
        assert.equal(done.status, 'completed', JSON.stringify(done));
        assert.equal(done.result.after_restore.index.status, 'out-of-date');
        const index = await until('the index alert', () => hook.received.find((r) => r.body.event === 'index_out_of_sync'));
        assert.equal(index.body.details.job_id, restore.json.job_id);
        assert.match(index.body.summary, /out of sync after the restore of SNAP-/);
        const missing = await until('the missing backup', () => hook.received.find((r) => r.body.event === 'pre_restore_backup_missing' && r.body.status === 'firing'));
        assert.equal(missing.body.severity, 'critical');
        // The next restore backs the kept database up first: resolved.
        const again = await nfrJson(['snapshot', 'restore', '--id', s1.body.id, '--yes', '--json'], env);
        assert.equal(again.code, 0, again.stderr);
        await until('the backup alert resolved', () => hook.received.find((r) => r.body.event === 'pre_restore_backup_missing' && r.body.status === 'resolved'));
      });
      for (const [event, status] of [['index_out_of_sync', 'firing'], ['pre_restore_backup_missing', 'firing'], ['pre_restore_backup_missing', 'resolved']]) {
        assert.equal(hook.received.filter((r) => r.body.event === event && r.body.status === status).length, 1, `${event} ${status}`);
      }
    } finally {
      await hook.close();
    }
  });

  it('an unreachable receiver delays no job; its failures are logged and counted; nfr alert test says what each receiver answered', async () => {
    const hole = await blackhole();
    const ok = await receiver();
    const refusing = await receiver(403);
    const db = await cluster.createDatabase('alerts-down');
    await seed(db.url, { controls: 50 });
    const env: Env = testEnv({
      DATABASE_URL: db.url,
      POSTGRES_BACKUP_PATH: cluster.tempDir('alerts-down-backups'),
      DATA_INGESTED_PATH: cluster.tempDir('alerts-down-data'),
      NFR_HOME: cluster.tempDir('alerts-down-home'),
      API_TOKENS,
      NFR_ALERT_WEBHOOK_URL: `${hole.url},http://127.0.0.1:1/closed`,
      NFR_ALERT_TIMEOUT_SECONDS: '1',
      NFR_ALERT_CHECK_SECONDS: '1',
    });
    const server = await serve({ ...env, NFR_FAULT_POINT: 'dumped:fail' });
    try {
      await withServers([server], async () => {
        const failing = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'fails' } });
        assert.equal((await pollJob(server, failing.json.job_id)).status, 'failed');
        // The alert for it is being retried against a receiver that never answers; the queue goes on.
        const next = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'also fails, promptly' } });
        assert.equal((await pollJob(server, next.json.job_id)).status, 'failed');
        // Its retries take more than 20 s (backoff 1 + 4 + 16 s): both jobs ended before they did.
        assert.doesNotMatch(server.stdout(), /could not be delivered/, 'the jobs did not wait for the delivery');
        await until('the failed delivery in the log', () => /alert job_failed \(firing\) could not be delivered to http:\/\/127\.0\.0\.1:\d+ after 4 attempt\(s\)/.test(server.stdout()), 90_000);
        const metrics = await api(server, 'GET', '/metrics', { token: READER });
        assert.match(metrics.text, /nfr_alert_delivery_failures_total\{event="job_failed"\} [1-9]/);
        assert.doesNotMatch(server.stdout(), /\/closed/, 'a receiver is logged by its origin, never its path');
      });
      // The default timeout here: a loaded machine may take more than the 1 s the server above had.
      const test = await nfrJson(['alert', 'test', '--json'], { ...env, NFR_ALERT_TIMEOUT_SECONDS: undefined, NFR_ALERT_WEBHOOK_URL: `${ok.url},${refusing.url},http://127.0.0.1:9/`, NFR_ALERT_WEBHOOK_SECRET: SECRET });
      assert.equal(test.code, 7, test.stderr);
      assert.deepEqual(
        test.body.answers.map((a: any) => [a.ok, a.status, a.body]),
        [
          [true, 200, 'ok'],
          [false, 403, 'nope'],
          // A port fetch will not use: why, not just "fetch failed".
          [false, null, 'fetch failed: bad port'],
        ],
      );
      assert.equal(ok.received[0]?.body.event, 'test');
      assert.equal(ok.received[0]?.headers['x-nfr-signature'], `sha256=${createHmac('sha256', SECRET).update(ok.received[0]!.raw).digest('hex')}`);
      const none = await nfrJson(['alert', 'test', '--json'], env.NFR_ALERT_WEBHOOK_URL ? { ...env, NFR_ALERT_WEBHOOK_URL: undefined } : env);
      assert.equal(none.code, 2);
      assert.match(none.body.error.message, /NFR_ALERT_WEBHOOK_URL is not set/);
    } finally {
      await hole.close();
      await ok.close();
      await refusing.close();
    }
  });
});
