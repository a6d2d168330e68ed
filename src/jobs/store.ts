/**
 * Durable job records: one JSON file per job under `<POSTGRES_BACKUP_PATH>/.state/jobs/`, written
 * atomically. They live outside the database on purpose: a restore replaces the database, and the
 * restore job's own status must still be pollable afterwards, as must every other job's.
 */
import { randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { atomicWriteFile, ensureDir } from '../util/fs.js';

export const JOB_STATUSES = ['pending', 'running', 'completed', 'failed'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export const JOB_KINDS = ['snapshot.create', 'snapshot.restore', 'snapshot.undo', 'snapshot.warm', 'ingest.controls', 'ingest.context', 'index.sync'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * One problem with a job's input: the CSV or JSONL line and the column or field it concerns
 * (null when the problem is the whole file, or the job itself), what is wrong, and for context
 * ingestion the file.
 */
const jobErrorSchema = z.object({
  line: z.number().int().nullable(),
  field: z.string().nullable(),
  message: z.string(),
  file: z.string().optional(),
});

export type JobError = z.infer<typeof jobErrorSchema>;

/**
 * What a job read and wrote, by name, filled in as it becomes known: for ingestion `rows_read`,
 * `rows_valid`, `rows_rejected`, `error_count` and the versions `inserted`, `updated`,
 * `unchanged`, `closed`; for an index sync its point counts.
 */
export type JobCounts = Readonly<Record<string, number>>;

const jobSchema = z.object({
  job_id: z.string().uuid(),
  kind: z.enum(JOB_KINDS),
  status: z.enum(JOB_STATUSES),
  progress_percent: z.number().min(0).max(100),
  current_step: z.string().nullable(),
  created_at: z.string(),
  started_at: z.string().nullable(),
  finished_at: z.string().nullable(),
  updated_at: z.string(),
  params: z.record(z.string(), z.unknown()),
  result: z.unknown().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  /** null until the job knows any; records written before these fields existed read as empty. */
  counts: z.record(z.string(), z.number()).nullable().default(null),
  /** The input's problems (at most MAX_JOB_ERRORS); a failure without row details is one entry. */
  errors: z.array(jobErrorSchema).default([]),
  /** pid of the server process that owns the job, to recognise jobs a dead server left behind. */
  owner_pid: z.number().int(),
});

export type Job = z.infer<typeof jobSchema>;

/** Problems kept in a job record; `counts.error_count` has the total when the job knows it. */
export const MAX_JOB_ERRORS = 100;

const JOB_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class JobStore {
  readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, 'jobs');
  }

  async init(): Promise<void> {
    await ensureDir(this.dir);
  }

  /** Creates a pending job. */
  async create(kind: JobKind, params: Record<string, unknown>): Promise<Job> {
    const now = new Date().toISOString();
    const job: Job = {
      job_id: randomUUID(),
      kind,
      status: 'pending',
      progress_percent: 0,
      current_step: null,
      created_at: now,
      started_at: null,
      finished_at: null,
      updated_at: now,
      params,
      result: null,
      error: null,
      counts: null,
      errors: [],
      owner_pid: process.pid,
    };
    await this.write(job);
    return job;
  }

  /** A job by id, or undefined (also for ids that are not UUIDs: they never reach the disk). */
  async get(jobId: string): Promise<Job | undefined> {
    if (!JOB_ID.test(jobId)) return undefined;
    try {
      return jobSchema.parse(JSON.parse(await readFile(this.file(jobId), 'utf8')));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  /** Applies a change to a job and writes it. */
  async update(jobId: string, change: Partial<Omit<Job, 'job_id' | 'kind' | 'created_at'>>): Promise<Job> {
    const current = await this.get(jobId);
    if (!current) throw new Error(`job ${jobId} does not exist`);
    const next: Job = { ...current, ...change, updated_at: new Date().toISOString() };
    await this.write(next);
    return next;
  }

  /** Jobs, newest first, optionally filtered by status. */
  async list(filter: { status?: JobStatus; limit?: number } = {}): Promise<Job[]> {
    const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
    const jobs: Job[] = [];
    for (const name of names) {
      const job = await this.get(name.slice(0, -5)).catch(() => undefined);
      if (job && (!filter.status || job.status === filter.status)) jobs.push(job);
    }
    jobs.sort((a, b) => b.created_at.localeCompare(a.created_at));
    return jobs.slice(0, filter.limit ?? 100);
  }

  /**
   * Marks every pending or running job of a server that is gone as failed, with the reason. Run
   * at server start: a job can only run inside the process that started it.
   */
  async failInterrupted(reason: string): Promise<Job[]> {
    const failed: Job[] = [];
    for (const status of ['running', 'pending'] as const) {
      for (const job of await this.list({ status, limit: 10_000 })) {
        if (job.owner_pid === process.pid) continue;
        failed.push(
          await this.update(job.job_id, {
            status: 'failed',
            finished_at: new Date().toISOString(),
            ...failure('INTERRUPTED', `${reason} (the job was ${job.status}${job.current_step ? ` at step "${job.current_step}"` : ''})`, job.errors),
          }),
        );
      }
    }
    return failed;
  }

  private file(jobId: string): string {
    return path.join(this.dir, `${jobId}.json`);
  }

  private async write(job: Job): Promise<void> {
    await atomicWriteFile(this.file(job.job_id), JSON.stringify(job, null, 2) + '\n');
  }
}

/**
 * The error fields of a failed job: `error`, and `errors` as given (the input's problems), or
 * when there are none the failure itself as the one entry, so a failed job always says why there.
 */
export function failure(code: string, message: string, errors: readonly JobError[] = []): Pick<Job, 'error' | 'errors'> {
  return { error: { code, message }, errors: errors.length > 0 ? errors.slice(0, MAX_JOB_ERRORS) : [{ line: null, field: null, message }] };
}
