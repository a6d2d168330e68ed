/**
 * Runs the schedules: pg-boss's scheduler fires the ticks, nfr takes each one once and records
 * what pg-boss cannot (a tick skipped because the previous run is still busy, ticks missed
 * because no server was up).
 *
 * pg-boss's side (node_modules/pg-boss/src/timekeeper.js): each nfr schedule that is not paused
 * is a pg-boss schedule on its own queue, `nfr-schedule.<name>` (pg-boss keys a schedule by its
 * queue). Every server's pg-boss checks the schedules each `cronMonitorIntervalSeconds`, at most
 * one server per interval (`trySetCronTime` on its version row); a schedule whose latest cron time
 * (in its zone, by the database's clock: pg-boss measures the skew) is under 60 s old is fired
 * through its `__pgboss__send-it` queue with a per-minute singleton key, and a worker
 * (`cronWorkerIntervalSeconds`) moves it to the schedule's queue. pg-boss fires only the latest
 * cron time, and only within that minute: a tick nobody was up for is never fired later.
 *
 * nfr's side, every NFR_SCHEDULE_CHECK_SECONDS on every server:
 *   - reconcile(): pg-boss's schedules and queues follow nfr_schedule (add, remove, pause,
 *     resume, from the CLI or the API), one server at a time (the queue set-up lock: pg-boss
 *     creates and drops a partition per queue);
 *   - takeTicks(): for each schedule row it can lock (servers looking at the same moment skip
 *     rows another holds), it fetches the jobs pg-boss fired, and in that one transaction maps
 *     each to its tick (the latest cron time at or before the job's creation), takes ticks newer
 *     than `last_tick_at` once (queued or skipped), records older ones pg-boss can no longer fire
 *     as missed, moves `last_tick_at` and deletes pg-boss's jobs. A duplicate firing, or one
 *     for a tick taken already, is just deleted.
 */
import type PgBoss from 'pg-boss';
import type pg from 'pg';
import type { JobStore } from '../jobs/store.js';
import { inTransaction, QUEUE_SETUP_LOCK } from '../jobs/control-db.js';
import { withPoolClient } from '../postgres/pool.js';
import { queueParams } from '../pipeline/tasks.js';
import { localDateTime, ticksBetween } from './cron.js';
import { every } from '../util/every.js';

/** The pg-boss queue (and schedule) of an nfr schedule. */
export const scheduleQueue = (name: string): string => `nfr-schedule.${name}`;
const QUEUE_PREFIX = scheduleQueue('');

/** pg-boss's cron monitor and its send-it worker run as often as nfr looks (1 to 45 s, pg-boss's bounds). */
export function pgBossCronOptions(checkSeconds: number): { cronMonitorIntervalSeconds: number; cronWorkerIntervalSeconds: number } {
  const seconds = Math.min(45, Math.max(1, Math.round(checkSeconds)));
  return { cronMonitorIntervalSeconds: seconds, cronWorkerIntervalSeconds: seconds };
}

/**
 * A latest tick this old that pg-boss has not fired is missed: pg-boss fires a cron time within
 * 60 s of it, its monitor may run up to two intervals apart (its timestamp guard is strict), the
 * send-it worker and nfr's check each poll once more, and a few seconds for the queries.
 */
export function graceMs(checkSeconds: number): number {
  const { cronMonitorIntervalSeconds: s } = pgBossCronOptions(checkSeconds);
  return (60 + 2 * s + 2 * s + 2 * checkSeconds + 5) * 1000;
}

export interface TickOutcome {
  readonly schedule: string;
  readonly tick_at: string;
  readonly outcome: 'queued' | 'skipped' | 'missed';
  readonly job_id?: string;
}

interface ScheduleRow {
  name: string;
  cron: string;
  tz: string;
  full_snapshot: boolean;
  warm: boolean;
  tags: string[];
  prune: boolean;
  paused: boolean;
  last_tick_at: Date;
}

/**
 * Makes pg-boss's schedules what nfr_schedule says: a queue per schedule, a pg-boss schedule per
 * active one (cron and zone as stored), nothing for removed ones. Skipped while another server
 * holds the set-up lock (it is doing the same).
 */
export async function reconcile(pool: pg.Pool, boss: PgBoss): Promise<void> {
  await withPoolClient(
    pool,
    async (client) => {
      const locked = await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [QUEUE_SETUP_LOCK]);
      if (!locked.rows[0]?.ok) return;
      try {
        const wanted = (await client.query<{ name: string; cron: string; tz: string; paused: boolean }>('select name, cron, tz, paused from nfr_schedule')).rows;
        const queues = new Set((await boss.getQueues()).map((q) => q.name).filter((n) => n.startsWith(QUEUE_PREFIX)));
        // pg-boss's rows (`select * from pgboss.schedule`) carry the zone as `timezone`.
        const rows = (await boss.getSchedules()) as (PgBoss.Schedule & { timezone: string | null })[];
        const scheduled = new Map(rows.filter((s) => s.name.startsWith(QUEUE_PREFIX)).map((s) => [s.name, s]));
        for (const s of wanted) {
          const queue = scheduleQueue(s.name);
          // Fired jobs are taken within seconds; a job nobody took is dropped after an hour.
          if (!queues.has(queue)) await boss.createQueue(queue, { name: queue, retryLimit: 0, expireInSeconds: 15 * 60, retentionMinutes: 60 });
          const current = scheduled.get(queue);
          if (s.paused) {
            if (current) await boss.unschedule(queue);
          } else if (current?.cron !== s.cron || current.timezone !== s.tz) {
            await boss.schedule(queue, s.cron, { schedule: s.name }, { tz: s.tz });
          }
        }
        const names = new Set(wanted.map((s) => scheduleQueue(s.name)));
        for (const queue of queues) {
          if (names.has(queue)) continue;
          // Removed: no more firing, the jobs fired and not taken go, then the queue (its partition).
          await boss.unschedule(queue);
          await boss.purgeQueue(queue);
          await boss.deleteQueue(queue);
        }
      } finally {
        await client.query('select pg_advisory_unlock($1)', [QUEUE_SETUP_LOCK]);
      }
    },
    false,
  );
}

/** Where a run of ticks nobody ran is said. */
function missedReason(ticks: readonly Date[], count: number, tz: string): string {
  const first = ticks[0] as Date;
  const last = ticks[ticks.length - 1] as Date;
  return `no server was running at ${count === 1 ? localDateTime(first, tz) : `${count} ticks from ${localDateTime(first, tz)} to ${localDateTime(last, tz)}`} (${tz}); recorded when a server came back`;
}

/**
 * Takes the ticks pg-boss fired and records the ones it never will, for every schedule row this
 * server can lock; answers what it did.
 */
export async function takeTicks(jobs: JobStore, boss: PgBoss, checkSeconds: number): Promise<TickOutcome[]> {
  const outcomes = await inTransaction(jobs.pool, async (client, db) => {
    const now = (await client.query<{ now: Date }>('select now()')).rows[0]!.now;
    const rows = await client.query<ScheduleRow>('select name, cron, tz, full_snapshot, warm, tags, prune, paused, last_tick_at from nfr_schedule order by name for update skip locked');
    const done: TickOutcome[] = [];
    for (const s of rows.rows) {
      const spec = { cron: s.cron, tz: s.tz };
      let last = s.last_tick_at;
      const missed = async (ticks: Date[], more: number) => {
        const at = ticks[ticks.length - 1];
        if (!at) return;
        await client.query(`insert into nfr_schedule_run (schedule, tick_at, outcome, reason, missed_ticks) values ($1, $2, 'missed', $3, $4)`, [s.name, at, missedReason(ticks, ticks.length + more, s.tz), ticks.length + more]);
        done.push({ schedule: s.name, tick_at: at.toISOString(), outcome: 'missed' });
      };
      const queue = scheduleQueue(s.name);
      const fired = ((await boss.fetch(queue, { db, batchSize: 20, includeMetadata: true } as PgBoss.FetchOptions & { includeMetadata: true })) as PgBoss.JobWithMetadata[]).sort(
        (a, b) => a.createdOn.getTime() - b.createdOn.getTime(),
      );
      for (const job of s.paused ? [] : fired) {
        const { ticks, more } = ticksBetween(spec, last, job.createdOn);
        const tick = ticks.pop();
        // Fired twice, or for the minute in which the schedule was added or resumed: taken already.
        if (!tick) continue;
        await missed(ticks, more);
        done.push(await takeTick(jobs, client, db, s, tick));
        last = tick;
      }
      // Taken or dropped, with the tick's record: nothing of pg-boss's job is worth keeping.
      if (fired.length > 0) await boss.deleteJob(queue, fired.map((j) => j.id), { db });
      if (!s.paused) {
        // pg-boss fires only the latest cron time, and only in its first minute: older ticks were missed.
        const { ticks, more } = ticksBetween(spec, last, now);
        const latest = ticks[ticks.length - 1];
        if (latest && now.getTime() - latest.getTime() < graceMs(checkSeconds)) ticks.pop();
        await missed(ticks, more);
        last = ticks[ticks.length - 1] ?? last;
      }
      if (last !== s.last_tick_at) await client.query('update nfr_schedule set last_tick_at = $2 where name = $1', [s.name, last]);
    }
    return done;
  });
  if (outcomes.some((o) => o.outcome === 'queued')) jobs.onQueued();
  return outcomes;
}

/** One tick, taken: skipped while the schedule's previous run is queued or running, else queued. */
async function takeTick(jobs: JobStore, client: pg.ClientBase, db: PgBoss.Db, s: ScheduleRow, tick: Date): Promise<TickOutcome> {
  const previous = await client.query<{ job_id: string; status: string; tick_at: Date }>(
    `select r.job_id, j.status, r.tick_at from nfr_schedule_run r join nfr_job j on j.job_id = r.job_id
      where r.schedule = $1 and r.outcome = 'queued' and j.status in ('pending', 'running') order by r.tick_at desc limit 1`,
    [s.name],
  );
  const busy = previous.rows[0];
  if (busy) {
    const reason = `the run of ${localDateTime(busy.tick_at, s.tz)} (job ${busy.job_id}) was still ${busy.status === 'pending' ? 'queued' : 'running'}`;
    await client.query(`insert into nfr_schedule_run (schedule, tick_at, outcome, reason, job_id) values ($1, $2, 'skipped', $3, null)`, [s.name, tick, reason]);
    return { schedule: s.name, tick_at: tick.toISOString(), outcome: 'skipped' };
  }
  const params = queueParams('snapshot.scheduled', {
    schedule: s.name,
    tick_at: tick.toISOString(),
    name: `${s.name} ${localDateTime(tick, s.tz)}`,
    tags: [...new Set(['scheduled', s.name, ...s.tags])],
    full: s.full_snapshot,
    warm: s.warm,
    prune: s.prune,
  });
  const job = await jobs.createIn(client, db, 'snapshot.scheduled', params);
  await client.query(`insert into nfr_schedule_run (schedule, tick_at, outcome, job_id) values ($1, $2, 'queued', $3)`, [s.name, tick, job.job_id]);
  return { schedule: s.name, tick_at: tick.toISOString(), outcome: 'queued', job_id: job.job_id };
}

/** The loop `nfr serve` runs every `checkSeconds`: reconcile, then take ticks; errors to `onError`. */
export function startTicker(jobs: JobStore, boss: PgBoss, checkSeconds: number, onError: (err: unknown) => void, onTick: (o: TickOutcome) => void = () => {}): { stop(): Promise<void> } {
  return every(
    checkSeconds,
    async () => {
      await reconcile(jobs.pool, boss);
      (await takeTicks(jobs, boss, checkSeconds)).forEach(onTick);
    },
    onError,
  );
}
