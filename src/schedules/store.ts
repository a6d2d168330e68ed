/**
 * Snapshot schedules, in the control database beside the job queue (control migration 0004):
 * what `nfr schedule add|list|remove|pause|resume` and the API change and show. Each change
 * names who made it. Running them is ticker.ts.
 */
import type pg from 'pg';
import { NfrError, sqlState } from '../errors.js';
import type { JobStatus } from '../jobs/store.js';
import { validateCreateOptions } from '../snapshot/create.js';
import { checkCron, checkTimeZone, nextTick } from './cron.js';

export const SCHEDULE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export interface ScheduleInput {
  readonly name: string;
  readonly cron: string;
  /** IANA zone; UTC when absent. */
  readonly tz?: string | undefined;
  readonly full?: boolean | undefined;
  readonly warm?: boolean | undefined;
  /** Tags besides `scheduled` and the schedule's name, which every run's snapshot has. */
  readonly tags?: readonly string[] | undefined;
  /** Apply retention (`nfr snapshot prune`) after each run's snapshot. */
  readonly prune?: boolean | undefined;
}

export type RunOutcome = 'queued' | 'skipped' | 'missed';

/** One tick's record, with its job's state for a queued one. */
export interface ScheduleRun {
  readonly tick_at: string;
  readonly outcome: RunOutcome;
  readonly recorded_at: string;
  /** Why it was skipped or missed. */
  readonly reason: string | null;
  readonly missed_ticks: number;
  readonly job_id: string | null;
  readonly job_status: JobStatus | null;
  /** The snapshot the run created, once completed. */
  readonly snapshot_id: string | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export interface Schedule {
  readonly name: string;
  readonly cron: string;
  readonly tz: string;
  readonly full: boolean;
  readonly warm: boolean;
  readonly tags: readonly string[];
  readonly prune: boolean;
  readonly paused: boolean;
  readonly created_at: string;
  readonly created_by: string;
  readonly updated_at: string;
  /** null while paused. */
  readonly next_run_at: string | null;
  readonly last_run: ScheduleRun | null;
  /** The last run whose job completed, and when (for `nfr_schedule_last_success_timestamp_seconds`). */
  readonly last_success_at: string | null;
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
  created_at: Date;
  created_by: string;
  updated_at: Date;
  last_tick_at: Date;
}

interface RunRow {
  schedule: string;
  tick_at: Date;
  outcome: RunOutcome;
  recorded_at: Date;
  reason: string | null;
  missed_ticks: number;
  job_id: string | null;
  job_status: JobStatus | null;
  result: { id?: unknown; snapshot?: { id?: unknown } } | null;
  error: { code: string; message: string } | null;
  finished_at: Date | null;
}

const RUN_COLUMNS = `r.schedule, r.tick_at, r.outcome, r.recorded_at, r.reason, r.missed_ticks, r.job_id, j.status as job_status, j.result, j.error, j.finished_at`;

function runFromRow(r: RunRow): ScheduleRun {
  const snapshotId = r.result && typeof r.result.snapshot === 'object' && typeof r.result.snapshot?.id === 'string' ? r.result.snapshot.id : null;
  return {
    tick_at: r.tick_at.toISOString(),
    outcome: r.outcome,
    recorded_at: r.recorded_at.toISOString(),
    reason: r.reason,
    missed_ticks: r.missed_ticks,
    job_id: r.job_id,
    job_status: r.job_status,
    snapshot_id: snapshotId,
    error: r.error,
  };
}

/** Checks a schedule as given and answers it normalised (zone as Intl spells it, tags without duplicates). */
export function checkScheduleInput(input: ScheduleInput): Required<ScheduleInput> {
  if (typeof input.name !== 'string' || !SCHEDULE_NAME.test(input.name)) {
    throw new NfrError('INVALID_INPUT', `name ${JSON.stringify(input.name)} (--name; name in the API) is not a valid schedule name: 1 to 63 letters, digits, _ . - (starting with a letter or digit); it becomes part of each snapshot's name and a tag`);
  }
  const tz = checkTimeZone(input.tz ?? 'UTC');
  if (typeof input.cron !== 'string') throw new NfrError('INVALID_INPUT', 'cron (--cron; cron in the API) is required, e.g. "0 9-17 * * 1-5"');
  checkCron(input.cron, tz);
  const tags = [...new Set(input.tags ?? [])];
  validateCreateOptions({ name: input.name, tags });
  return { name: input.name, cron: input.cron.trim().split(/\s+/).join(' '), tz, full: input.full === true, warm: input.warm === true, tags, prune: input.prune === true };
}

export class ScheduleStore {
  /** @param pool sessions on the control database */
  constructor(readonly pool: pg.Pool) {}

  async add(input: ScheduleInput, by: string): Promise<Schedule> {
    const s = checkScheduleInput(input);
    try {
      await this.pool.query(
        `insert into nfr_schedule (name, cron, tz, full_snapshot, warm, tags, prune, created_by, last_tick_at) values ($1, $2, $3, $4, $5, $6, $7, $8, now())`,
        [s.name, s.cron, s.tz, s.full, s.warm, JSON.stringify(s.tags), s.prune, by],
      );
    } catch (err) {
      if (sqlState(err) === '23505') throw new NfrError('INVALID_INPUT', `a schedule named "${s.name}" exists already; remove it first (nfr schedule remove --name ${s.name}) or choose another name`);
      throw err;
    }
    return this.get(s.name);
  }

  async get(name: string, now = new Date()): Promise<Schedule> {
    const found = (await this.list(now)).find((s) => s.name === name);
    if (!found) throw new NfrError('NOT_FOUND', `no schedule named "${name}"; \`nfr schedule list\` shows them`);
    return found;
  }

  async list(now = new Date()): Promise<Schedule[]> {
    const rows = await this.pool.query<ScheduleRow>('select * from nfr_schedule order by name');
    const last = await this.pool.query<RunRow>(
      `select distinct on (r.schedule) ${RUN_COLUMNS} from nfr_schedule_run r left join nfr_job j on j.job_id = r.job_id order by r.schedule, r.tick_at desc, r.run_id desc`,
    );
    const success = await this.pool.query<{ schedule: string; at: Date }>(
      `select r.schedule, max(j.finished_at) as at from nfr_schedule_run r join nfr_job j on j.job_id = r.job_id where j.status = 'completed' group by r.schedule`,
    );
    const lastBy = new Map(last.rows.map((r) => [r.schedule, runFromRow(r)]));
    const successBy = new Map(success.rows.map((r) => [r.schedule, r.at.toISOString()]));
    return rows.rows.map((r) => ({
      name: r.name,
      cron: r.cron,
      tz: r.tz,
      full: r.full_snapshot,
      warm: r.warm,
      tags: r.tags,
      prune: r.prune,
      paused: r.paused,
      created_at: r.created_at.toISOString(),
      created_by: r.created_by,
      updated_at: r.updated_at.toISOString(),
      next_run_at: r.paused ? null : nextTick({ cron: r.cron, tz: r.tz }, new Date(Math.max(now.getTime(), r.last_tick_at.getTime()))).toISOString(),
      last_run: lastBy.get(r.name) ?? null,
      last_success_at: successBy.get(r.name) ?? null,
    }));
  }

  /** The latest runs of a schedule, newest first. */
  async runs(name: string, limit = 20): Promise<ScheduleRun[]> {
    const r = await this.pool.query<RunRow>(`select ${RUN_COLUMNS} from nfr_schedule_run r left join nfr_job j on j.job_id = r.job_id where r.schedule = $1 order by r.tick_at desc, r.run_id desc limit $2`, [name, limit]);
    return r.rows.map(runFromRow);
  }

  /** Removes a schedule (its run history stays, under its name); a queued run still runs. */
  async remove(name: string): Promise<{ name: string; removed: true }> {
    const r = await this.pool.query('delete from nfr_schedule where name = $1', [name]);
    if (r.rowCount === 0) throw new NfrError('NOT_FOUND', `no schedule named "${name}"; \`nfr schedule list\` shows them`);
    return { name, removed: true };
  }

  /**
   * Pauses or resumes. Ticks while paused are neither run nor recorded as missed: resuming
   * starts from now.
   */
  async setPaused(name: string, paused: boolean): Promise<Schedule> {
    const r = await this.pool.query(
      `update nfr_schedule set paused = $2, updated_at = now(), last_tick_at = case when $2 then last_tick_at else greatest(last_tick_at, now()) end where name = $1`,
      [name, paused],
    );
    if (r.rowCount === 0) throw new NfrError('NOT_FOUND', `no schedule named "${name}"; \`nfr schedule list\` shows them`);
    return this.get(name);
  }

  /** Skipped and missed runs no server has alerted about yet, claimed by this caller (each once, across servers). */
  async claimUnalerted(): Promise<(ScheduleRun & { schedule: string })[]> {
    const r = await this.pool.query<RunRow>(
      `with claimed as (
         update nfr_schedule_run set alerted_at = now()
          where run_id in (select run_id from nfr_schedule_run where alerted_at is null and outcome <> 'queued' for update skip locked)
          returning *)
       select ${RUN_COLUMNS} from claimed r left join nfr_job j on j.job_id = r.job_id order by r.tick_at`,
    );
    return r.rows.map((row) => ({ ...runFromRow(row), schedule: row.schedule }));
  }
}
