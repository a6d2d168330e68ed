/**
 * What every `nfr serve` watches for the webhooks. Two kinds of alert:
 *   - events, sent once (`firing`): a job failed (snapshot, restore, ingestion, index sync, a
 *     schedule's run), a schedule's tick skipped or missed, a restore that left the vector index
 *     out of date. Each is claimed in the control database by the server that sends it.
 *   - conditions, sent when they start (`firing`) and when they end (`resolved`): the latest
 *     completed snapshot older than NFR_ALERT_SNAPSHOT_MAX_AGE, the backup volume at 80 % and at
 *     95 %, a pre-restore backup missing, a snapshot not offsite in time (NFR_OFFSITE_MAX_DELAY). Every server checks them
 *     every NFR_ALERT_CHECK_SECONDS; the one whose check flips the shared state sends.
 * Sending happens in the background (webhook.ts): a check never waits for a receiver.
 */
import type pg from 'pg';
import { JOB_OPERATION, type Job, type JobStore } from '../jobs/store.js';
import type { Context } from '../runtime/context.js';
import { lockState } from '../runtime/lock.js';
import { ScheduleStore } from '../schedules/store.js';
import { completedSnapshots } from '../snapshot/catalog.js';
import { snapshotHealth } from '../snapshot/health.js';
import { alertPayload, dispatch, type AlertConfig, type AlertPayload, type DeliveryReport, type Severity } from './webhook.js';
import { every } from '../util/every.js';

/** How often events are looked for (conditions: NFR_ALERT_CHECK_SECONDS). */
const EVENT_POLL_SECONDS = 2;

/** A condition as one check sees it. */
export interface Condition {
  readonly key: string;
  readonly firing: boolean;
  readonly severity: Severity;
  readonly summary: string;
  readonly details: Record<string, unknown>;
}


/** The events of finished jobs: failures, and restores that left the index out of date. */
export function jobEvents(job: Job, server: string): AlertPayload[] {
  const operation = JOB_OPERATION[job.kind] ?? job.kind;
  if (job.status === 'failed') {
    const schedule = typeof job.params.schedule === 'string' ? job.params.schedule : null;
    const summary = `${operation} job ${job.job_id}${schedule ? ` of schedule "${schedule}"` : ''} failed: ${job.error?.code ?? 'ERROR'} ${job.error?.message ?? ''}`.trim();
    return [alertPayload({ event: 'job_failed', severity: 'critical', status: 'firing', summary, server, details: { job_id: job.job_id, kind: job.kind, operation, schedule, error: job.error, step: job.current_step, finished_at: job.finished_at, ran_on: job.server }, occurred_at: job.finished_at ?? undefined })];
  }
  const result = job.result as { after_restore?: { index?: { status?: string; fix?: string | null; missing?: number; stale?: number } }; snapshot_id?: string } | null;
  const index = result?.after_restore?.index;
  if (job.status === 'completed' && index?.status === 'out-of-date') {
    const summary = `the vector index is out of sync after the restore of ${result?.snapshot_id ?? 'a snapshot'} (${index.missing ?? 0} missing, ${index.stale ?? 0} stale points); ${index.fix ?? 'run `nfr index`'}`;
    return [alertPayload({ event: 'index_out_of_sync', severity: 'warning', status: 'firing', summary, server, details: { job_id: job.job_id, snapshot_id: result?.snapshot_id ?? null, index }, occurred_at: job.finished_at ?? undefined })];
  }
  return [];
}

/** Checks every condition once. */
export async function checkConditions(ctx: Context, config: AlertConfig, now = new Date()): Promise<Condition[]> {
  const out: Condition[] = [];
  const health = await snapshotHealth(ctx, now);
  const snapshots = await completedSnapshots(ctx.store);
  const latest = snapshots.reduce<(typeof snapshots)[number] | undefined>((a, b) => (!a || b.completed_at > a.completed_at ? b : a), undefined);
  const maxAge = config.snapshotMaxAgeSeconds;
  const age = latest ? (now.getTime() - Date.parse(latest.completed_at)) / 1000 : null;
  out.push({
    key: 'snapshot_stale',
    firing: age !== null && age > maxAge,
    severity: 'critical',
    summary: latest ? `the latest completed snapshot ${latest.id} is ${formatAge(age ?? 0)} old (NFR_ALERT_SNAPSHOT_MAX_AGE ${formatAge(maxAge)})` : 'no completed snapshot',
    details: { latest_snapshot_id: latest?.id ?? null, completed_at: latest?.completed_at ?? null, age_seconds: age === null ? null : Math.round(age), max_age_seconds: maxAge },
  });
  const disk = health.checks.find((c) => c.name === 'disk');
  const used = (disk?.value as { used_percent?: number } | undefined)?.used_percent;
  if (typeof used === 'number') {
    for (const [key, level, severity] of [['backup_volume_warning', 80, 'warning'], ['backup_volume_critical', 95, 'critical']] as const) {
      out.push({ key, firing: used >= level, severity, summary: `the backup volume is ${used.toFixed(1)} % used (alerts at ${level} %): ${disk?.message ?? ''}`, details: { ...(disk?.value as object), level_percent: level } });
    }
  }
  const backup = health.checks.find((c) => c.name === 'pre_restore_backup');
  // A backup still `pending` while an operation holds the lock is the restore dumping it after its
  // swap, as every database-only restore does: only a failed one, or one its restore left pending
  // (killed), is missing.
  const backupStatus = (backup?.value as { backup?: { status?: string } | null } | undefined)?.backup?.status;
  const missing = backup !== undefined && backup.status !== 'healthy' && (backupStatus === 'failed' || !(await lockState(ctx)).held);
  out.push({ key: 'pre_restore_backup_missing', firing: missing, severity: 'critical', summary: backup?.message ?? 'the last restore has its pre-restore backup', details: { ...((backup?.value as object | undefined) ?? {}) } });
  // With an offsite repository (NFR_S3_REPOSITORY): a snapshot not in it after NFR_OFFSITE_MAX_DELAY,
  // or the repository unreadable, as health reports it.
  const offsite = health.checks.find((c) => c.name === 'offsite');
  if (offsite) out.push({ key: 'snapshot_not_offsite', firing: offsite.status === 'unhealthy', severity: 'warning', summary: offsite.message, details: { ...((offsite.value as object | undefined) ?? {}) } });
  return out;
}

function formatAge(seconds: number): string {
  if (seconds >= 3600) return `${(seconds / 3600).toFixed(1)} h`;
  if (seconds >= 60) return `${(seconds / 60).toFixed(1)} min`;
  return `${Math.round(seconds)} s`;
}

/**
 * Records a condition's state; answers the payload to send when this call changed it (a
 * condition that starts, or ends), undefined when it was already so (or another server changed
 * it first). A condition that was never firing and is not now sends nothing.
 */
export async function claimTransition(pool: pg.Pool, c: Condition, server: string): Promise<AlertPayload | undefined> {
  const r = await pool.query<{ inserted: boolean }>(
    `insert into nfr_alert (key, firing, severity, summary, details) values ($1, $2, $3, $4, $5)
     on conflict (key) do update set firing = excluded.firing, severity = excluded.severity, summary = excluded.summary, details = excluded.details, changed_at = now()
       where nfr_alert.firing <> excluded.firing
     returning (xmax = 0) as inserted`,
    [c.key, c.firing, c.severity, c.summary, JSON.stringify(c.details)],
  );
  const row = r.rows[0];
  if (!row || (row.inserted && !c.firing)) return undefined;
  return alertPayload({ event: c.key, severity: c.firing ? c.severity : 'info', status: c.firing ? 'firing' : 'resolved', summary: c.firing ? c.summary : `resolved: ${c.summary}`, details: c.details, server });
}

/** Conditions firing now, as the control database holds them (for /metrics). */
export async function firingAlerts(pool: pg.Pool): Promise<{ key: string; severity: string }[]> {
  return (await pool.query<{ key: string; severity: string }>('select key, severity from nfr_alert where firing order by key')).rows;
}

export interface WatcherOptions {
  readonly ctx: Context;
  readonly jobs: JobStore;
  readonly config: AlertConfig;
  readonly server: string;
  readonly report: DeliveryReport;
  readonly onError: (err: unknown) => void;
}

/** The per-server loops: events every EVENT_POLL_SECONDS, conditions every NFR_ALERT_CHECK_SECONDS. */
export function startWatcher(o: WatcherOptions): { stop(): Promise<void> } {
  const schedules = new ScheduleStore(o.jobs.pool);
  // Without receivers the state is kept all the same (/metrics shows what is firing); nothing is sent.
  const send = (p: AlertPayload) => void dispatch(p, o.config, o.report);
  const events = async () => {
    for (const job of await o.jobs.claimForAlerts()) jobEvents(job, o.server).forEach(send);
    for (const run of await schedules.claimUnalerted()) {
      const event = run.outcome === 'missed' ? 'schedule_missed' : 'schedule_skipped';
      const summary = `schedule "${run.schedule}" ${run.outcome} ${run.outcome === 'missed' && run.missed_ticks > 1 ? `${run.missed_ticks} ticks` : `its tick of ${run.tick_at}`}: ${run.reason ?? ''}`;
      send(alertPayload({ event, severity: 'warning', status: 'firing', summary, server: o.server, details: { schedule: run.schedule, tick_at: run.tick_at, missed_ticks: run.missed_ticks, reason: run.reason }, occurred_at: run.recorded_at }));
    }
  };
  const conditions = async () => {
    for (const c of await checkConditions(o.ctx, o.config)) {
      const payload = await claimTransition(o.jobs.pool, c, o.server);
      if (payload) send(payload);
    }
  };
  const loops = [every(EVENT_POLL_SECONDS, events, o.onError), every(o.config.checkSeconds, conditions, o.onError)];
  return {
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}
