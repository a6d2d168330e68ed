/**
 * Runs jobs one at a time, in submission order, recording progress in the job store. Snapshot,
 * restore, ingestion and indexing jobs therefore never overlap inside one server; across
 * processes the operation lock keeps them apart.
 */
import { toNfrError } from '../errors.js';
import type { Progress } from '../snapshot/operation.js';
import { failureOutcome, type JobOutcome } from './outcome.js';
import { failure, type Job, type JobStore } from './store.js';

/**
 * What the work tells the runner as it goes. `counts` are merged into what was reported before
 * (so a later stage adds to them); `errors` replace the list. Both are written at once and kept
 * when the job fails later.
 */
export interface JobReport extends JobOutcome {
  readonly percent?: number;
  readonly step?: string;
}

export type JobWork = (report: (r: JobReport) => void, signal: AbortSignal) => Promise<unknown>;

const PROGRESS_WRITE_MS = 250;

export class JobRunner {
  private queue: Promise<void> = Promise.resolve();
  private readonly abort = new AbortController();
  private running: Job | undefined;
  private readonly pending = new Set<string>();
  private closed = false;

  constructor(private readonly store: JobStore) {}

  /** The job running right now, if any. */
  get active(): Job | undefined {
    return this.running;
  }

  /** Queues work for a job created in the store; returns at once. */
  submit(job: Job, work: JobWork, onDone?: (job: Job) => Promise<void>): void {
    this.pending.add(job.job_id);
    this.queue = this.queue.then(async () => {
      this.pending.delete(job.job_id);
      if (this.closed) return;
      const finished = await this.run(job, work);
      if (onDone) await onDone(finished).catch(() => {});
    });
  }

  /**
   * Graceful shutdown: no new jobs start, queued ones are marked failed, and the running one is
   * given `graceMs` to finish. One still running then is marked failed here, so its status says
   * what happened; the caller exits, which ends it like a kill, and every operation is safe
   * against that (the next one cleans up what it left).
   */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    for (const jobId of this.pending) {
      await this.store.update(jobId, { status: 'failed', finished_at: new Date().toISOString(), ...failure('INTERRUPTED', 'the server shut down before the job started') }).catch(() => {});
    }
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([this.queue.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
    clearTimeout(timer);
    this.abort.abort();
    const stuck = this.running;
    if (!finished && stuck) {
      const message = `the server shut down and the job did not finish within the ${Math.round(graceMs / 1000)} s grace period (step: ${stuck.current_step ?? 'unknown'}); the next operation cleans up what it left`;
      await this.store.update(stuck.job_id, { status: 'failed', finished_at: new Date().toISOString(), ...failure('INTERRUPTED', message) }).catch(() => {});
    }
  }

  private async run(job: Job, work: JobWork): Promise<Job> {
    this.running = await this.store.update(job.job_id, { status: 'running', started_at: new Date().toISOString(), current_step: 'starting' });
    let lastWrite = 0;
    let latest: JobReport = {};
    let writing: Promise<unknown> = Promise.resolve();
    const report = (r: JobReport) => {
      const stepChanged = r.step !== undefined && r.step !== latest.step;
      // New counts or errors are written at once; a count that only moves on (tables done,
      // bytes written) waits for the next progress write like the percentage.
      const outcomeChanged = r.errors !== undefined || Object.keys(r.counts ?? {}).some((k) => latest.counts?.[k] === undefined);
      latest = {
        percent: r.percent ?? latest.percent,
        step: r.step ?? latest.step,
        counts: r.counts ? { ...latest.counts, ...r.counts } : latest.counts,
        errors: r.errors ?? latest.errors,
      };
      const now = Date.now();
      if (!stepChanged && !outcomeChanged && now - lastWrite < PROGRESS_WRITE_MS) return;
      lastWrite = now;
      const snapshot = latest;
      writing = writing.then(() =>
        this.store
          .update(job.job_id, {
            progress_percent: Math.max(0, Math.min(100, Math.round((snapshot.percent ?? 0) * 10) / 10)),
            current_step: snapshot.step ?? null,
            ...(snapshot.counts ? { counts: snapshot.counts } : {}),
            ...(snapshot.errors ? { errors: [...snapshot.errors] } : {}),
          })
          .then((j) => (this.running = j))
          .catch(() => {}),
      );
    };
    try {
      const result = await work(report, this.abort.signal);
      await writing;
      return await this.store.update(job.job_id, {
        status: 'completed',
        progress_percent: 100,
        current_step: 'completed',
        finished_at: new Date().toISOString(),
        result: result ?? null,
        counts: latest.counts ?? null,
        errors: [...(latest.errors ?? [])],
      });
    } catch (err) {
      await writing;
      const e = toNfrError(err);
      // What the failure's details say wins over what was reported before it; counts add up.
      const found = failureOutcome(e);
      const counts = found.counts || latest.counts ? { ...latest.counts, ...found.counts } : null;
      return await this.store.update(job.job_id, { status: 'failed', finished_at: new Date().toISOString(), counts, ...failure(e.code, e.message, found.errors ?? latest.errors) });
    } finally {
      this.running = undefined;
    }
  }
}

/** Maps snapshot progress to a job percentage (phases get fixed bands, tables fill the band) and counts. */
export function snapshotProgress(kind: 'create' | 'restore' | 'warm', p: Progress): JobReport {
  const bands: Record<string, [number, number]> =
    kind === 'create'
      ? { dumping: [2, 95], completed: [100, 100] }
      : kind === 'warm'
        ? { verifying: [1, 5], restoring: [5, 92], checking: [92, 99], completed: [100, 100] }
        : {
            verifying: [1, 5],
            backup: [5, 30],
            restoring: [30, 85],
            cloning: [30, 85],
            checking: [85, 88],
            migrating: [88, 89],
            swapping: [89, 90],
            'backup-after-swap': [90, 97],
            reporting: [97, 99],
            resyncing: [97, 99],
            completed: [100, 100],
          };
  const [from, to] = bands[p.phase] ?? [0, 0];
  const fraction = p.tables_total ? (p.tables_done ?? 0) / p.tables_total : 0;
  // Tables and bytes go into counts, so a client shows them beside the phase and percentage.
  const counts: Record<string, number> = {};
  if (p.tables_total !== undefined) counts.tables_total = p.tables_total;
  if (p.tables_done !== undefined) counts.tables_done = p.tables_done;
  if (p.bytes !== undefined) counts.bytes = p.bytes;
  return { percent: from + (to - from) * fraction, step: p.phase, ...(Object.keys(counts).length ? { counts } : {}) };
}
