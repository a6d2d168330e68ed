/**
 * Runs the schedules: every `nfr serve` looks for due ticks every NFR_SCHEDULE_CHECK_SECONDS.
 * A tick is taken in one transaction that locks the schedule's row (servers looking at the
 * same moment skip rows another holds), records the tick and moves `last_tick_at` past it, and
 * queues its job — so each tick is handled exactly once across servers, and never lost between
 * being taken and being queued.
 *
 * This does what pg-boss's scheduler (`boss.schedule`) would, plus what it cannot: pg-boss 10
 * sends at most one job per cron minute across instances (its `singletonKey` per minute), but it
 * neither records a tick nobody was up for nor knows that the previous run of the same schedule
 * is still queued. Here:
 *   - the newest due tick, if it is recent (within the grace period), runs; its job joins the one
 *     queue, so it waits in order behind a held operation lock like any job;
 *   - if the schedule's previous run is still queued or running, the tick is recorded `skipped`;
 *   - older due ticks (no server was up) are recorded as one `missed` entry with their count.
 */
import type { JobStore } from '../jobs/store.js';
import { inTransaction } from '../jobs/control-db.js';
import { queueParams } from '../pipeline/tasks.js';
import { localDateTime, ticksBetween } from './cron.js';
import { every } from '../util/every.js';

/** A tick this much past due (or more) counts as missed rather than late. */
export function graceMs(checkSeconds: number): number {
  return Math.max(60_000, 3 * checkSeconds * 1000);
}

export interface TickOutcome {
  readonly schedule: string;
  readonly tick_at: string;
  readonly outcome: 'queued' | 'skipped' | 'missed';
  readonly job_id?: string;
}

interface DueRow {
  name: string;
  cron: string;
  tz: string;
  full_snapshot: boolean;
  warm: boolean;
  tags: string[];
  prune: boolean;
  last_tick_at: Date;
}

/** Handles every due tick of every active schedule once (across servers); answers what it did. */
export async function runDueTicks(jobs: JobStore, checkSeconds: number, now = new Date()): Promise<TickOutcome[]> {
  const outcomes = await inTransaction(jobs.pool, async (client, db) => {
    const due = await client.query<DueRow>('select name, cron, tz, full_snapshot, warm, tags, prune, last_tick_at from nfr_schedule where not paused and last_tick_at < $1 order by name for update skip locked', [now]);
    const done: TickOutcome[] = [];
    for (const s of due.rows) {
      const spec = { cron: s.cron, tz: s.tz };
      const { ticks, more } = ticksBetween(spec, s.last_tick_at, now);
      const latest = ticks[ticks.length - 1];
      if (!latest) continue;
      const onTime = now.getTime() - latest.getTime() < graceMs(checkSeconds);
      const missed = onTime ? ticks.slice(0, -1) : ticks;
      const lastMissed = missed[missed.length - 1];
      if (lastMissed) {
        const count = missed.length + more;
        const first = missed[0] as Date;
        const reason = `no server was running at ${count === 1 ? localDateTime(first, s.tz) : `${count} ticks from ${localDateTime(first, s.tz)} to ${localDateTime(lastMissed, s.tz)}`} (${s.tz}); recorded when a server came back`;
        await client.query(`insert into nfr_schedule_run (schedule, tick_at, outcome, reason, missed_ticks) values ($1, $2, 'missed', $3, $4)`, [s.name, lastMissed, reason, count]);
        done.push({ schedule: s.name, tick_at: lastMissed.toISOString(), outcome: 'missed' });
      }
      if (onTime) {
        const previous = await client.query<{ job_id: string; status: string; tick_at: Date }>(
          `select r.job_id, j.status, r.tick_at from nfr_schedule_run r join nfr_job j on j.job_id = r.job_id
            where r.schedule = $1 and r.outcome = 'queued' and j.status in ('pending', 'running') order by r.tick_at desc limit 1`,
          [s.name],
        );
        const busy = previous.rows[0];
        if (busy) {
          const reason = `the run of ${localDateTime(busy.tick_at, s.tz)} (job ${busy.job_id}) was still ${busy.status === 'pending' ? 'queued' : 'running'}`;
          await client.query(`insert into nfr_schedule_run (schedule, tick_at, outcome, reason, job_id) values ($1, $2, 'skipped', $3, null)`, [s.name, latest, reason]);
          done.push({ schedule: s.name, tick_at: latest.toISOString(), outcome: 'skipped' });
        } else {
          const params = queueParams('snapshot.scheduled', {
            schedule: s.name,
            tick_at: latest.toISOString(),
            name: `${s.name} ${localDateTime(latest, s.tz)}`,
            tags: [...new Set(['scheduled', s.name, ...s.tags])],
            full: s.full_snapshot,
            warm: s.warm,
            prune: s.prune,
          });
          const job = await jobs.createIn(client, db, 'snapshot.scheduled', params);
          await client.query(`insert into nfr_schedule_run (schedule, tick_at, outcome, job_id) values ($1, $2, 'queued', $3)`, [s.name, latest, job.job_id]);
          done.push({ schedule: s.name, tick_at: latest.toISOString(), outcome: 'queued', job_id: job.job_id });
        }
      }
      await client.query('update nfr_schedule set last_tick_at = $2 where name = $1', [s.name, latest]);
    }
    return done;
  });
  if (outcomes.some((o) => o.outcome === 'queued')) jobs.onQueued();
  return outcomes;
}

/** The loop `nfr serve` runs: runDueTicks every `checkSeconds`, errors to `onError`. */
export function startTicker(jobs: JobStore, checkSeconds: number, onError: (err: unknown) => void, onTick: (o: TickOutcome) => void = () => {}): { stop(): Promise<void> } {
  return every(checkSeconds, async () => (await runDueTicks(jobs, checkSeconds)).forEach(onTick), onError);
}
