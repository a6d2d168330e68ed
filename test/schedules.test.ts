/**
 * Snapshot schedules (issue 22 items 1 and 5): exactly one snapshot per tick with two servers
 * (the one slow case: three real minutes, run alongside the others); time zones; a bad cron
 * expression or zone refused with what was wrong; a tick during a restore waits for the lock and
 * then runs; a tick while the previous run is still running is skipped and recorded; ticks
 * nobody was up for are recorded as missed; pause and resume.
 *
 * pg-boss's scheduler fires the ticks, at most once a minute: a test waits for the next real
 * minute where it needs one more tick (the cases run side by side, within the three-minute one).
 * Where a tick is needed at once, a schedule's `last_tick_at` is moved back before a server starts:
 * the minute's tick, which pg-boss fires when it starts, is then not taken yet.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkCron, checkTimeZone, localDateTime, nextTick, ticksBetween } from '../src/schedules/cron.js';
import { nfrJson, spawnNfr, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { query } from './support/data.js';
import { api, API_TOKENS, OPERATOR, pollJob, READER, serve, waitForJobStatus, type Server } from './support/api.js';
import { until as waitUntil } from './support/wait.js';
import { seededDatabase } from './support/setup.js';

const cluster = fileCluster();

async function sharedEnv(prefix: string): Promise<Env> {
  return (await seededDatabase(cluster, prefix, { controls: 100, ingested: true, env: { API_TOKENS, NFR_HEARTBEAT_SECONDS: '1', NFR_SCHEDULE_CHECK_SECONDS: '1' } })).env;
}

const controlUrl = (env: Env) => cluster.url(`${new URL(env.DATABASE_URL!).pathname.slice(1)}_nfr`);

async function withServers<T>(servers: Server[], fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    for (const s of servers) if (s.child.exitCode === null && s.child.signalCode === null) await s.stop();
  }
}

/** Waits for a condition, up to two and a half minutes: pg-boss fires a schedule's tick once a minute. */
function until<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 150_000): Promise<T> {
  return waitUntil(what, check, timeoutMs);
}

/**
 * Marks the minute's tick not taken yet: a server started next takes it when pg-boss fires it (or,
 * if the server is slow to start and the minute passes, that tick is missed and the next is taken).
 */
async function makeTickDue(env: Env, name: string): Promise<void> {
  await query(controlUrl(env), `update nfr_schedule set last_tick_at = date_trunc('minute', now()) - interval '30 seconds' where name = $1`, [name]);
}

/** pg-boss's schedules of nfr schedules: [queue, cron, zone]. */
const bossSchedules = async (env: Env) =>
  (await query(controlUrl(env), "select name, cron, timezone from pgboss.schedule where name like 'nfr-schedule.%' order by name")).map((r) => [r.name, r.cron, r.timezone]);

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const runsOf = (env: Env, name: string) => query(controlUrl(env), 'select outcome, job_id, reason, missed_ticks, tick_at, recorded_at from nfr_schedule_run where schedule = $1 order by run_id', [name]);

describe('cron expressions and time zones', () => {
  it('refuses bad expressions and zones, saying what was wrong', () => {
    assert.throws(() => checkCron('0 9 * *', 'UTC'), /has 4 field\(s\); a schedule needs 5/);
    assert.throws(() => checkCron('61 * * * *', 'UTC'), /not a valid cron expression: .*61/);
    assert.throws(() => checkTimeZone('Mars/Olympus_Mons'), /not a time zone this system knows/);
    assert.equal(checkTimeZone('europe/london'), 'Europe/London');
  });

  it('reads the expression in its zone, across daylight-saving changes', () => {
    const spec = { cron: '0 9 * * *', tz: 'Europe/London' };
    // 09:00 London is 08:00 UTC in summer, 09:00 UTC in winter; the clocks go back on 25 October 2026.
    assert.equal(nextTick(spec, new Date('2026-07-01T00:00:00Z')).toISOString(), '2026-07-01T08:00:00.000Z');
    const { ticks } = ticksBetween(spec, new Date('2026-10-24T00:00:00Z'), new Date('2026-10-26T23:00:00Z'));
    assert.deepEqual(
      ticks.map((t) => t.toISOString()),
      ['2026-10-24T08:00:00.000Z', '2026-10-25T09:00:00.000Z', '2026-10-26T09:00:00.000Z'],
    );
    assert.equal(localDateTime(new Date('2026-10-25T09:00:00Z'), 'Europe/London'), '2026-10-25 09:00');
    const ny = nextTick({ cron: '30 17 * * 1-5', tz: 'America/New_York' }, new Date('2026-12-04T23:00:00Z'));
    assert.equal(ny.toISOString(), '2026-12-07T22:30:00.000Z', 'Friday evening → Monday 17:30 EST');
  });
});

describe('schedules', { concurrency: true }, () => {
  it('two servers take exactly one snapshot per tick over three minutes', async (t) => {
    const env = await sharedEnv('sched-two');
    const a = await serve(env);
    const b = await serve(env);
    await withServers([a, b], async () => {
      // Added with both servers up: the first tick is the next minute's.
      const added = await api(a, 'POST', '/api/v2/devdata/snapshots/schedules', { body: { name: 'every-minute', cron: '* * * * *', tz: 'Europe/Paris', tags: ['ci'] } });
      assert.equal(added.status, 201, added.text);
      await until('pg-boss scheduling it in its zone', async () => sameJson(await bossSchedules(env), [['nfr-schedule.every-minute', '* * * * *', 'Europe/Paris']]));
      const runs = await until(
        'three runs completed',
        async () => {
          const rows = await query(controlUrl(env), "select r.tick_at, j.status from nfr_schedule_run r join nfr_job j using (job_id) where r.schedule = 'every-minute' and r.outcome = 'queued' order by r.tick_at");
          return rows.length >= 3 && rows.slice(0, 3).every((r) => r.status === 'completed') ? rows : undefined;
        },
        240_000,
      );
      const all = await runsOf(env, 'every-minute');
      // What pg-boss fired (its send-it jobs) and what the servers logged, to say why if not.
      const fired = await query(controlUrl(env), "select data->>'name' as queue, singleton_on, created_on, completed_on, state from pgboss.job where name = '__pgboss__send-it' order by created_on");
      const errors = [a, b].flatMap((s) => s.stdout().split('\n').filter((l) => /"level":(50|40)/.test(l)));
      assert.deepEqual(all.filter((r) => r.outcome !== 'queued'), [], `nothing skipped or missed; runs ${JSON.stringify(all)}; fired ${JSON.stringify(fired)}; logged ${errors.join('\n')}`);
      // How long after its tick each was taken (pg-boss's monitor, its send-it worker, nfr's check).
      t.diagnostic(`taken after the tick: ${all.map((r) => `${((r.recorded_at as Date).getTime() - (r.tick_at as Date).getTime()) / 1000} s`).join(', ')}`);
      const ticks = runs.map((r) => (r.tick_at as Date).toISOString());
      assert.equal(new Set(ticks).size, ticks.length, 'each tick queued once');
      const list = await api(b, 'GET', '/api/v2/devdata/snapshots', { token: READER });
      const scheduled = list.json.snapshots.filter((s: any) => s.tags.includes('scheduled'));
      // Exactly one snapshot per completed tick, named for the tick in the schedule's zone.
      const done = runs.filter((r) => r.status === 'completed');
      assert.equal(scheduled.length, done.length, JSON.stringify(scheduled.map((s: any) => s.name)));
      assert.deepEqual(scheduled.map((s: any) => s.name).sort(), done.map((r) => `every-minute ${localDateTime(r.tick_at, 'Europe/Paris')}`).sort());
      for (const s of scheduled) assert.deepEqual([...s.tags].sort(), ['ci', 'every-minute', 'scheduled']);
      const shown = await api(a, 'GET', '/api/v2/devdata/snapshots/schedules', { token: READER });
      const row = shown.json.schedules.find((s: any) => s.name === 'every-minute');
      assert.ok(row.last_success_at);
      assert.ok(Date.parse(row.next_run_at) > Date.now() - 1000);
    });
  });

  it('refuses bad input from the CLI and the API, and only admins change schedules', async () => {
    const env = await sharedEnv('sched-input');
    const bad = await nfrJson(['schedule', 'add', '--name', 'x', '--cron', '0 25 * * *', '--json'], env);
    assert.equal(bad.code, 12, bad.stderr);
    assert.match(bad.body.error.message, /cron "0 25 \* \* \*" \(--cron; cron in the API\) is not a valid cron expression/);
    const zone = await nfrJson(['schedule', 'add', '--name', 'x', '--cron', '0 2 * * *', '--tz', 'Europe/Londres', '--json'], env);
    assert.equal(zone.code, 12);
    assert.match(zone.body.error.message, /tz "Europe\/Londres" \(--tz; tz in the API\) is not a time zone/);
    const ok = await nfrJson(['schedule', 'add', '--name', 'nightly', '--cron', '0 2 * * *', '--tz', 'Europe/London', '--full', '--prune', '--json'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.body.tz, 'Europe/London');
    assert.match(ok.body.created_by, /^cli:/);
    const twice = await nfrJson(['schedule', 'add', '--name', 'nightly', '--cron', '0 3 * * *', '--json'], env);
    assert.equal(twice.code, 12);
    assert.match(twice.body.error.message, /exists already/);
    const server = await serve(env);
    await withServers([server], async () => {
      const denied = await api(server, 'POST', '/api/v2/devdata/snapshots/schedules', { token: OPERATOR, body: { name: 'y', cron: '0 2 * * *' } });
      assert.equal(denied.status, 403);
      const badApi = await api(server, 'POST', '/api/v2/devdata/snapshots/schedules', { body: { name: 'y', cron: '0 2 * * * *' } });
      assert.equal(badApi.status, 400);
      assert.match(badApi.json.error.message, /has 6 field\(s\)/);
      const listed = await api(server, 'GET', '/api/v2/devdata/snapshots/schedules', { token: READER });
      assert.deepEqual(listed.json.schedules.map((s: any) => [s.name, s.cron, s.tz, s.full, s.prune]), [['nightly', '0 2 * * *', 'Europe/London', true, true]]);
      const gone = await api(server, 'DELETE', '/api/v2/devdata/snapshots/schedules/nightly');
      assert.equal(gone.status, 200, gone.text);
      assert.equal((await api(server, 'DELETE', '/api/v2/devdata/snapshots/schedules/nightly')).status, 404);
    });
  });

  it('records a tick as skipped while the previous run still runs, and ticks nobody was up for as missed', async () => {
    const env = await sharedEnv('sched-skip');
    const added = await nfrJson(['schedule', 'add', '--name', 'often', '--cron', '* * * * *', '--json'], env);
    assert.equal(added.code, 0, added.stderr);
    // Added ten minutes ago with no server up: those ticks were missed.
    await query(controlUrl(env), `update nfr_schedule set last_tick_at = now() - interval '10 minutes' where name = 'often'`);
    const server = await serve({ ...env, NFR_FAULT_POINT: 'dumped:pause' });
    await withServers([server], async () => {
      const first = await until('a queued run', async () => (await runsOf(env, 'often')).find((r) => r.outcome === 'queued'));
      const missed = (await runsOf(env, 'often')).find((r) => r.outcome === 'missed');
      assert.ok(missed, 'the missed ticks are recorded');
      assert.ok(missed.missed_ticks >= 8 && missed.missed_ticks <= 10, String(missed.missed_ticks));
      assert.match(missed.reason, /no server was running at \d+ ticks from/);
      await server.waitForStderr(/nfr-fault-point: dumped/);
      await waitForJobStatus(server, first.job_id, 'running');
      // The next minute's tick, fired by pg-boss, finds the first run still there (it may have
      // come before the run started, on a loaded machine).
      const skipped = await until('a skipped run', async () => (await runsOf(env, 'often')).find((r) => r.outcome === 'skipped'));
      assert.match(skipped.reason, new RegExp(`job ${first.job_id}\\) was still (running|queued)`));
      assert.equal((await runsOf(env, 'often')).filter((r) => r.outcome === 'queued').length, 1, 'not queued twice');
      const listed = await nfrJson(['schedule', 'list', '--json'], env);
      assert.equal(listed.body.schedules[0].last_run.outcome, 'skipped');
      // Cancelled, the run ends; the next tick runs again.
      await api(server, 'POST', `/api/v2/jobs/${first.job_id}/cancel`, { token: OPERATOR });
      assert.equal((await pollJob(server, first.job_id, 30_000)).status, 'cancelled');
    });
  });

  it('a tick during a restore waits for the lock in order, then runs', async () => {
    const env = await sharedEnv('sched-lock');
    const base = await nfrJson(['snapshot', 'create', '--name', 'base', '--json'], env);
    assert.equal(base.code, 0, base.stderr);
    const restore = spawnNfr(['snapshot', 'restore', '--id', base.body.id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'before-swap' });
    await waitForStderr(restore, /nfr-fault-point: before-swap/);
    const server = await serve(env);
    await withServers([server], async () => {
      const minute = await api(server, 'POST', '/api/v2/devdata/snapshots/schedules', { body: { name: 'minutely', cron: '* * * * *' } });
      assert.equal(minute.status, 201);
      // The next minute's tick, fired by pg-boss, is queued and waits for the restore's lock.
      const run = await until('a queued run', async () => (await runsOf(env, 'minutely')).find((r) => r.outcome === 'queued'));
      const waiting = await until('the job waiting for the lock', async () => {
        const j = await api(server, 'GET', `/api/v2/jobs/${run.job_id}`, { token: READER });
        return /waiting for the lock held by/.test(j.json.current_step ?? '') ? j.json : undefined;
      });
      assert.equal(waiting.status, 'running');
      // The restore ends (killed here: its lock goes with it); the scheduled snapshot follows.
      restore.kill('SIGKILL');
      await waitForExit(restore);
      const done = await pollJob(server, run.job_id, 60_000);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.match(done.result.snapshot.name, /^minutely \d{4}-\d\d-\d\d \d\d:\d\d$/);
    });
  });

  it('applies retention after a run with --prune, and /metrics shows the last success', async () => {
    const env = await sharedEnv('sched-prune');
    const old: string[] = [];
    for (const name of ['manual one', 'manual two']) {
      const r = await nfrJson(['snapshot', 'create', '--name', name, '--json'], env);
      assert.equal(r.code, 0, r.stderr);
      old.push(r.body.id);
    }
    const added = await nfrJson(['schedule', 'add', '--name', 'pruner', '--cron', '* * * * *', '--prune', '--tag', 'extra', '--json'], env);
    assert.equal(added.code, 0, added.stderr);
    await makeTickDue(env, 'pruner');
    const server = await serve(env);
    await withServers([server], async () => {
      const run = await until('a queued run', async () => (await runsOf(env, 'pruner')).find((r) => r.outcome === 'queued'));
      const done = await pollJob(server, run.job_id);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      // Retention keeps the newest snapshot of the day (and of the week and month): the scheduled one.
      assert.deepEqual([...done.result.prune.deleted].sort(), old.sort());
      const list = await api(server, 'GET', '/api/v2/devdata/snapshots', { token: READER });
      assert.deepEqual(list.json.snapshots.map((x: any) => [x.id, [...x.tags].sort()]), [[done.result.snapshot.id, ['extra', 'pruner', 'scheduled']]]);
      const metrics = await api(server, 'GET', '/metrics', { token: READER });
      const success = /nfr_schedule_last_success_timestamp_seconds\{schedule="pruner"\} ([0-9.e+]+)/.exec(metrics.text);
      assert.ok(success && Math.abs(Number(success[1]) - Date.parse(done.finished_at) / 1000) < 1, metrics.text);
      assert.match(metrics.text, /nfr_operation_failures\{operation="scheduled_run"\} 0/);
      assert.match(metrics.text, /nfr_jobs\{kind="snapshot.scheduled",status="completed"\} 1/);
    });
  });

  it('runs a --full --warm schedule: the snapshot is full and warm', async () => {
    const env = await sharedEnv('sched-full');
    const added = await nfrJson(['schedule', 'add', '--name', 'full-warm', '--cron', '* * * * *', '--full', '--warm', '--json'], env);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.body.full, true);
    assert.equal(added.body.warm, true);
    await makeTickDue(env, 'full-warm');
    const server = await serve(env);
    await withServers([server], async () => {
      const run = await until('a queued run', async () => (await runsOf(env, 'full-warm')).find((r) => r.outcome === 'queued'));
      const done = await pollJob(server, run.job_id, 120_000);
      assert.equal(done.status, 'completed', JSON.stringify(done));
      assert.equal(done.result.snapshot.kind, 'full');
      assert.ok(done.result.snapshot.warm?.database, JSON.stringify(done.result.snapshot));
      const shown = await nfrJson(['snapshot', 'show', '--id', done.result.snapshot.id, '--json'], env);
      assert.equal(shown.code, 0, shown.stderr);
      assert.equal(shown.body.kind, 'full');
      assert.equal(shown.body.contains.postgres, true);
      assert.equal(shown.body.contains.ingested_files, true, 'a full snapshot has the ingested files');
      assert.equal(shown.body.warm.database, done.result.snapshot.warm.database);
      const warmDb = await query(cluster.url('postgres'), 'select datname from pg_database where datname = $1', [done.result.snapshot.warm.database]);
      assert.equal(warmDb.length, 1, 'the warm copy exists');
    });
  });

  it('pauses and resumes: paused ticks are neither run nor missed, and pg-boss schedules follow', async () => {
    const env = await sharedEnv('sched-pause');
    for (const name of ['paused-one', 'witness']) {
      const r = await nfrJson(['schedule', 'add', '--name', name, '--cron', '* * * * *', '--json'], env);
      assert.equal(r.code, 0, r.stderr);
    }
    const pausedCli = await nfrJson(['schedule', 'pause', '--name', 'paused-one', '--json'], env);
    assert.equal(pausedCli.body.paused, true);
    assert.equal(pausedCli.body.next_run_at, null);
    // Five minutes nobody was up for: the witness's earlier ticks are missed, its latest runs at start.
    await query(controlUrl(env), `update nfr_schedule set last_tick_at = now() - interval '5 minutes'`);
    const server = await serve(env);
    await withServers([server], async () => {
      // pg-boss's scheduler follows: a schedule for the active one only, in its zone.
      await until('pg-boss scheduling the witness alone', async () => sameJson(await bossSchedules(env), [['nfr-schedule.witness', '* * * * *', 'UTC']]));
      await until('the witness ran', async () => (await runsOf(env, 'witness')).some((r) => r.outcome === 'queued'));
      assert.deepEqual(await runsOf(env, 'paused-one'), []);
      const resumed = await api(server, 'POST', '/api/v2/devdata/snapshots/schedules/paused-one/resume');
      assert.equal(resumed.status, 200, resumed.text);
      assert.equal(resumed.json.paused, false);
      assert.ok(Date.parse(resumed.json.next_run_at) > Date.now() - 1000);
      await until('pg-boss scheduling both', async () => (await bossSchedules(env)).length === 2);
      // The next minute's tick (pg-boss's) runs the resumed one and the witness again.
      await until('the resumed one ran', async () => (await runsOf(env, 'paused-one')).some((r) => r.outcome === 'queued'));
      await until('the witness ran again', async () => (await runsOf(env, 'witness')).filter((r) => r.outcome !== 'missed').length >= 2);
      assert.deepEqual((await runsOf(env, 'paused-one')).filter((r) => r.outcome === 'missed'), [], 'nothing missed while paused');
      const paused = await api(server, 'POST', '/api/v2/devdata/snapshots/schedules/witness/pause');
      assert.equal(paused.status, 200, paused.text);
      assert.equal(paused.json.paused, true);
      await until('pg-boss no longer scheduling the paused one', async () => sameJson(await bossSchedules(env), [['nfr-schedule.paused-one', '* * * * *', 'UTC']]));
      const removed = await nfrJson(['schedule', 'remove', '--name', 'witness', '--json'], env);
      assert.deepEqual(removed.body, { name: 'witness', removed: true });
      const none = await nfrJson(['schedule', 'remove', '--name', 'witness', '--json'], env);
      assert.equal(none.code, 4);
      // Removed: its pg-boss queue goes too.
      await until('the queue of the removed schedule dropped', async () => {
        const queues = await query(controlUrl(env), "select name from pgboss.queue where name like 'nfr-schedule.%' order by name");
        return sameJson(queues.map((q) => q.name), ['nfr-schedule.paused-one']);
      });
    });
  });
});
