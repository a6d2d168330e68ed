/**
 * Durable job records, in the control database (`nfr_job`), shared by every server on the same
 * PostgreSQL. They live outside the live database on purpose: a restore replaces it, and the
 * restore job's own status must still be pollable afterwards, as must every other job's. The
 * order and hand-out of the work is pg-boss's queue (see runner.ts); a job is created in both at
 * once, in one transaction.
 */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type PgBoss from 'pg-boss';
import { z } from 'zod';
import { messageOf, NfrError, type InputError } from '../errors.js';
import { faultPoint } from '../util/fault.js';
import { inTransaction } from './control-db.js';

export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const JOB_KINDS = ['snapshot.create', 'snapshot.restore', 'snapshot.undo', 'snapshot.warm', 'snapshot.diff', 'snapshot.push', 'ingest.controls', 'ingest.context', 'index.sync', 'snapshot.scheduled'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/** What operation each kind of job is, as alerts and /metrics name failures. */
export const JOB_OPERATION: Readonly<Record<JobKind, string>> = {
  'snapshot.create': 'snapshot',
  'snapshot.warm': 'snapshot',
  'snapshot.scheduled': 'scheduled_run',
  'snapshot.restore': 'restore',
  'snapshot.undo': 'restore',
  'snapshot.diff': 'diff',
  'snapshot.push': 'snapshot',
  'ingest.controls': 'ingestion',
  'ingest.context': 'ingestion',
  'index.sync': 'index',
};

/** The pg-boss queue every job goes through: one active job at a time across all servers, oldest first. */
export const JOB_QUEUE = 'nfr-operations';

/** One problem with a job's input (or the job's failure itself, with line and field null). */
export type JobError = InputError;

const jobErrorSchema = z.object({
  line: z.number().int().nullable(),
  field: z.string().nullable(),
  message: z.string(),
  file: z.string().optional(),
}) satisfies z.ZodType<InputError>;

/**
 * What a job read and wrote, by name, filled in as it becomes known: for ingestion `rows_read`,
 * `rows_valid`, `rows_rejected`, `error_count` and the versions `inserted`, `updated`,
 * `unchanged`, `closed`; for an index sync its point counts.
 */
export type JobCounts = Readonly<Record<string, number>>;

const timestamp = () => z.string().meta({ format: 'date-time' });

/**
 * A job's record, defined once: Job is inferred from it, and the API's job schema (server/schemas.ts)
 * is generated from it with what the view adds.
 */
export const jobRecordSchema = z.object({
  job_id: z.string().meta({ format: 'uuid' }),
  kind: z.enum(JOB_KINDS),
  status: z.enum(JOB_STATUSES),
  progress_percent: z.number().min(0).max(100),
  current_step: z.string().nullable(),
  created_at: timestamp(),
  started_at: timestamp().nullable(),
  finished_at: timestamp().nullable(),
  updated_at: timestamp(),
  params: z.record(z.string(), z.unknown()),
  result: z.unknown().meta({ description: 'what the work returned (a manifest summary, a restore report, ingestion counts), null until completed' }),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  /** null until the job knows any. */
  counts: z
    .record(z.string(), z.number())
    .nullable()
    .meta({ description: 'rows_read, rows_valid, rows_rejected, inserted, updated, unchanged, closed; tables_done, tables_total, bytes' }),
  /** The input's problems (at most MAX_JOB_ERRORS); a failure without row details is one entry. */
  errors: z.array(jobErrorSchema).readonly(),
  /** The server that runs (or ran) the job, `host:pid`, and its id; null while pending. */
  server: z.string().nullable().meta({ description: 'the server that runs (or ran) the job, host:pid; null while it is queued' }),
  server_id: z.string().nullable().meta({ format: 'uuid' }),
  /** The running job's last heartbeat. */
  heartbeat_at: timestamp().nullable().meta({ description: "the running job's last heartbeat; a job three heartbeats stale is failed by a live server" }),
  /** When someone asked to cancel the job (it stops at its next safe point), and who. */
  cancel_requested_at: timestamp().nullable().meta({ description: 'when someone asked to cancel the job' }),
  cancelled_by: z.string().nullable().meta({ description: 'who asked to cancel the job (a token role, or `cli` and the OS user)' }),
});
export type Job = Readonly<z.infer<typeof jobRecordSchema>>;

/** A job as the API shows it: the record plus the original system's names for progress and step. */
export const jobViewSchema = jobRecordSchema.extend({
  progress: z.number().meta({ description: "the original system's name for progress_percent" }),
  step: z.string().nullable().meta({ description: 'the phase the job is in (dumping, restoring, waiting for the lock held by …)' }),
});

/** Problems kept in a job record; `counts.error_count` has the total when the job knows it. */
export const MAX_JOB_ERRORS = 100;

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a change may set; jsonb columns are written as JSON. */
export type JobChange = Partial<Omit<Job, 'job_id' | 'kind' | 'created_at' | 'updated_at' | 'heartbeat_at' | 'cancel_requested_at' | 'cancelled_by'>>;

const COLUMNS = `job_id, kind, status, progress_percent, current_step, params, result, error, counts, errors, server_id, server,
  heartbeat_at, created_at, started_at, finished_at, updated_at, cancel_requested_at, cancelled_by`;

const JSON_COLUMNS = new Set(['params', 'result', 'error', 'counts', 'errors']);
const CHANGEABLE = new Set(['status', 'progress_percent', 'current_step', 'params', 'result', 'error', 'counts', 'errors', 'server_id', 'server', 'started_at', 'finished_at']);

interface JobRow {
  job_id: string;
  kind: JobKind;
  status: JobStatus;
  progress_percent: number;
  current_step: string | null;
  params: Record<string, unknown>;
  result: unknown;
  error: Job['error'];
  counts: Record<string, number> | null;
  errors: JobError[];
  server_id: string | null;
  server: string | null;
  heartbeat_at: Date | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  cancel_requested_at: Date | null;
  cancelled_by: string | null;
}

export function jobFromRow(r: JobRow): Job {
  const iso = (d: Date | null) => (d === null ? null : d.toISOString());
  return {
    job_id: r.job_id,
    kind: r.kind,
    status: r.status,
    progress_percent: r.progress_percent,
    current_step: r.current_step,
    created_at: r.created_at.toISOString(),
    started_at: iso(r.started_at),
    finished_at: iso(r.finished_at),
    updated_at: r.updated_at.toISOString(),
    params: r.params,
    result: r.result,
    error: r.error,
    counts: r.counts,
    errors: z.array(jobErrorSchema).catch([]).parse(r.errors),
    server: r.server,
    server_id: r.server_id,
    heartbeat_at: iso(r.heartbeat_at),
    cancel_requested_at: iso(r.cancel_requested_at),
    cancelled_by: r.cancelled_by,
  };
}

export class JobStore {
  /**
   * @param pool sessions on the control database
   * @param boss the queue (started); absent for a store that only reads
   */
  constructor(
    readonly pool: pg.Pool,
    private readonly boss?: PgBoss,
    /** The control database's name, for the error when it does not answer. */
    private readonly database = 'control',
  ) {}

  /** A failure of the control database, as the error a client sees (503): what is out of service and why. */
  private unavailable(err: unknown): never {
    if (err instanceof NfrError) throw err;
    throw new NfrError('DATABASE', `the job queue's control database "${this.database}" does not answer (${messageOf(err)}); jobs can neither be started nor read until it does`, { cause: err });
  }

  /** Told when a job was queued here, so this server looks for work at once. */
  onQueued: () => void = () => {};

  /** Creates a pending job and queues it, in one transaction: either both exist or neither. */
  async create(kind: JobKind, params: Record<string, unknown>): Promise<Job> {
    if (!this.boss) throw new Error('this job store cannot queue jobs');
    const job = await inTransaction(this.pool, (client, db) => this.createIn(client, db, kind, params)).catch((err: unknown) => this.unavailable(err));
    this.onQueued();
    return job;
  }

  /**
   * Creates a pending job and queues it in the caller's transaction (a schedule's tick is taken
   * in the same one); the caller calls onQueued after its commit.
   */
  async createIn(client: pg.ClientBase, db: PgBoss.Db, kind: JobKind, params: Record<string, unknown>): Promise<Job> {
    const boss = this.boss;
    if (!boss) throw new Error('this job store cannot queue jobs');
    const jobId = randomUUID();
    const r = await client.query<JobRow>(`insert into nfr_job (job_id, kind, status, params) values ($1, $2, 'pending', $3) returning ${COLUMNS}`, [jobId, kind, JSON.stringify(params)]);
    // The queue's row carries only the id: what to do is in nfr_job, read by whoever runs it.
    await boss.send(JOB_QUEUE, { job_id: jobId, kind }, { id: jobId, db } as PgBoss.SendOptions);
    return jobFromRow(r.rows[0]!);
  }

  /** A job by id, or undefined (also for ids that are not UUIDs: they never reach the database). */
  async get(jobId: string): Promise<Job | undefined> {
    if (!JOB_ID.test(jobId)) return undefined;
    const r = await this.pool.query<JobRow>(`select ${COLUMNS} from nfr_job where job_id = $1`, [jobId]).catch((err: unknown) => this.unavailable(err));
    return r.rows[0] ? jobFromRow(r.rows[0]) : undefined;
  }

  /**
   * Applies a change to a job. With `onlyIf`, only while the job has that status (a job another
   * server already failed is not brought back); answers undefined when nothing matched. `on` is
   * a session in a transaction the change belongs to.
   */
  async update(jobId: string, change: JobChange, onlyIf?: JobStatus, on: pg.ClientBase | pg.Pool = this.pool): Promise<Job | undefined> {
    const sets: string[] = [];
    const values: unknown[] = [jobId];
    for (const [key, value] of Object.entries(change)) {
      if (value === undefined || !CHANGEABLE.has(key)) continue;
      values.push(JSON_COLUMNS.has(key) ? JSON.stringify(value) : value);
      sets.push(`${key} = $${values.length}`);
    }
    let where = 'job_id = $1';
    if (onlyIf) {
      values.push(onlyIf);
      where += ` and status = $${values.length}`;
    }
    const r = await on.query<JobRow>(`update nfr_job set ${[...sets, 'updated_at = now()'].join(', ')} where ${where} returning ${COLUMNS}`, values);
    return r.rows[0] ? jobFromRow(r.rows[0]) : undefined;
  }

  /**
   * Cancels a job on behalf of `by`: a queued one ends `cancelled` at once (the queue lets its
   * entry go when a server takes it); a running one is asked to stop, which the server running it
   * sees within a second (runner.ts) and does at the work's next safe point. A finished job
   * cannot be cancelled (IN_USE would be wrong: CANCELLED is what the job is, not this request).
   */
  async cancel(jobId: string, by: string): Promise<Job> {
    const job = await this.get(jobId);
    if (!job) throw new NfrError('NOT_FOUND', `no job ${jobId}; \`GET /api/v2/jobs\` lists the jobs`);
    const r = await this.pool
      .query<JobRow>(
        `update nfr_job set
            status = case when status = 'pending' then 'cancelled' else status end,
            finished_at = case when status = 'pending' then now() else finished_at end,
            error = case when status = 'pending' then $3::jsonb else error end,
            errors = case when status = 'pending' then $4::jsonb else errors end,
            cancel_requested_at = coalesce(cancel_requested_at, now()),
            cancelled_by = coalesce(cancelled_by, $2),
            updated_at = now()
          where job_id = $1 and status in ('pending', 'running')
          returning ${COLUMNS}`,
        [jobId, by, JSON.stringify(failure('CANCELLED', `cancelled by ${by} before it started`).error), JSON.stringify(failure('CANCELLED', `cancelled by ${by} before it started`).errors)],
      )
      .catch((err: unknown) => this.unavailable(err));
    if (r.rows[0]) return jobFromRow(r.rows[0]);
    const now = (await this.get(jobId)) ?? job;
    throw new NfrError('INVALID_INPUT', `job ${jobId} is ${now.status}${now.finished_at ? ` since ${now.finished_at}` : ''}; only a queued or running job can be cancelled`, { details: { status: now.status } });
  }

  /** Waits (polling) until a job is no longer pending or running, or `timeoutMs` passed; answers it as it is then. */
  async waitFinished(jobId: string, timeoutMs: number, pollMs = 250): Promise<Job | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await this.get(jobId);
      if (!job || (job.status !== 'pending' && job.status !== 'running') || Date.now() >= deadline) return job;
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /**
   * Who asked to cancel a job, if anyone did (the running server polls this), and whether the
   * request came after the job's commit (commitGate): too late to stop it.
   */
  async cancelRequest(jobId: string): Promise<{ by: string; afterCommit: boolean } | undefined> {
    const r = await this.pool.query<{ cancelled_by: string | null; cancel_requested_at: Date | null; committed_at: Date | null }>(
      'select cancelled_by, cancel_requested_at, committed_at from nfr_job where job_id = $1',
      [jobId],
    );
    const row = r.rows[0];
    return row?.cancel_requested_at ? { by: row.cancelled_by ?? 'someone', afterCommit: row.committed_at !== null } : undefined;
  }

  /**
   * A job's commit gate (runtime/cancel.ts): in one control-database transaction, locks the job's
   * row, refuses (CANCELLED) if a cancel was requested, else runs `commit` and records
   * `committed_at` before the lock goes. A cancel request (cancel(), an update of the same row)
   * waits for the lock, so it comes wholly before the commit or wholly after it.
   */
  async commitGate(jobId: string, where: string, commit: () => Promise<void>): Promise<void> {
    // Before the lock: a cancel recorded here, and not yet seen by the work, is found under it.
    await faultPoint('commit-gate');
    await inTransaction(this.pool, async (client) => {
      const r = await client.query<{ cancelled_by: string | null; cancel_requested_at: Date | null }>('select cancelled_by, cancel_requested_at from nfr_job where job_id = $1 for update', [jobId]);
      const row = r.rows[0];
      if (row?.cancel_requested_at) throw new NfrError('CANCELLED', `cancelled by ${row.cancelled_by ?? 'someone'} (stopped ${where}; nothing of it was kept)`);
      // The commit instant: the cancel flag is read and locked, the batch not yet committed.
      await faultPoint('commit-instant');
      await commit();
      await client.query('update nfr_job set committed_at = clock_timestamp() where job_id = $1', [jobId]);
    });
  }

  /** Jobs, newest first, optionally filtered by status. */
  async list(filter: { status?: JobStatus; limit?: number } = {}): Promise<Job[]> {
    const r = await this.pool.query<JobRow>(`select ${COLUMNS} from nfr_job where ($1::text is null or status = $1) order by created_at desc, job_id limit $2`, [filter.status ?? null, filter.limit ?? 100]).catch((err: unknown) => this.unavailable(err));
    return r.rows.map(jobFromRow);
  }

  /**
   * Finished jobs no server has alerted about yet — failed ones, and restores that completed
   * leaving the index out of date — claimed by this caller, each once across servers.
   */
  async claimForAlerts(): Promise<Job[]> {
    const r = await this.pool.query<JobRow>(
      `update nfr_job set alerted_at = now()
        where job_id in (select job_id from nfr_job where alerted_at is null and status in ('completed', 'failed') for update skip locked)
        returning ${COLUMNS}`,
    );
    return r.rows.map(jobFromRow).sort((a, b) => (a.finished_at ?? '').localeCompare(b.finished_at ?? ''));
  }

  /** How many jobs there are of each kind and status (for /metrics). */
  async tally(): Promise<{ kind: string; status: string; n: number }[]> {
    const r = await this.pool.query<{ kind: string; status: string; n: number }>('select kind, status, count(*)::int as n from nfr_job group by kind, status order by kind, status').catch((err: unknown) => this.unavailable(err));
    return r.rows;
  }
}

/**
 * The error fields of a failed job: `error`, and `errors` as given (the input's problems), or
 * when there are none the failure itself as the one entry, so a failed job always says why there.
 */
export function failure(code: string, message: string, errors: readonly JobError[] = []): Pick<Job, 'error' | 'errors'> {
  return { error: { code, message }, errors: errors.length > 0 ? errors.slice(0, MAX_JOB_ERRORS) : [{ line: null, field: null, message }] };
}
