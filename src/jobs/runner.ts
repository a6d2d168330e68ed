/**
 * Runs queued jobs on this server, taking them from pg-boss's queue in the control database.
 * The queue is a singleton queue: one job is active at a time across every server sharing the
 * control database, and they are handed out oldest first, so jobs run in the order they were
 * submitted whichever server took the request. (The operation lock still keeps them apart from
 * CLI operations: a job waits for it.) Taking a job from the queue and marking its record
 * `running` are one transaction, as are finishing both; a job whose server dies meanwhile is
 * failed by a live one (liveness.ts).
 */
import { NfrError, toNfrError } from '../errors.js';
import type PgBoss from 'pg-boss';
import type { Logger } from 'pino';
import type { CommitGate } from '../runtime/cancel.js';
import { inTransaction } from './control-db.js';
import type { Liveness, ServerIdentity } from './liveness.js';
import { failureOutcome, type JobOutcome } from './outcome.js';
import { failure, JOB_QUEUE, jobFromRow, type Job, type JobStore } from './store.js';

/**
 * What the work tells the runner as it goes. `counts` are merged into what was reported before
 * (so a later stage adds to them); `errors` replace the list. Both are written at once and kept
 * when the job fails later.
 */
export interface JobReport extends JobOutcome {
  readonly percent?: number;
  readonly step?: string;
}

/**
 * `signal` aborts when someone cancels the job (on any server): the work checks it at its safe
 * points and stops there with CANCELLED, leaving nothing half-done. A work whose last safe point
 * is a commit commits through `commitGate` (runtime/cancel.ts), which orders it against cancels.
 */
export type JobWork = (job: Job, report: (r: JobReport) => void, signal: AbortSignal, commitGate: CommitGate) => Promise<unknown>;

/** A job that ended here, as metrics see it. */
export interface JobEnded {
  readonly job: Job;
  readonly status: 'completed' | 'failed' | 'cancelled';
  readonly seconds: number;
}

export interface JobRunnerOptions {
  /** Job starts, ends and failures, and the runner's own troubles (a control database down). */
  readonly log?: Pick<Logger, 'info' | 'warn' | 'error'>;
  /** Told when a job this server ran has ended (its record already written). */
  readonly onJobEnded?: (ended: JobEnded) => void;
}

const PROGRESS_WRITE_MS = 250;
/** How often the server running a job looks whether someone asked to cancel it. */
const CANCEL_POLL_MS = 1000;
/** How often an idle server asks the queue for work (a job created here wakes it at once). */
const POLL_MS = 500;
/** Serialises taking a job from the queue across servers, so the oldest is always taken first. */
const FETCH_LOCK = 0x4e465251;

export class JobRunner {
  private running: Job | undefined;
  private runningDone: Promise<void> = Promise.resolve();
  private closed = false;
  private pollTimer: NodeJS.Timeout | undefined;
  private beatTimer: NodeJS.Timeout | undefined;
  private polling = false;
  private url: string | null = null;

  constructor(
    private readonly store: JobStore,
    private readonly boss: PgBoss,
    private readonly liveness: Liveness,
    private readonly work: JobWork,
    private readonly options: JobRunnerOptions = {},
  ) {}

  /** Said once per distinct problem: a control database that is down fails every poll. */
  private lastError = '';
  private readonly onError = (err: unknown): void => {
    const message = err instanceof Error ? err.message : String(err);
    if (message !== this.lastError) this.options.log?.error({ err }, `job queue: ${message}`);
    this.lastError = message;
  };

  /** Who this server is, as job records name it. */
  get server(): ServerIdentity {
    return this.liveness.me;
  }

  /** The job this server is running right now, if any. */
  get active(): Job | undefined {
    return this.running;
  }

  /**
   * Joins the servers: records this one, fails the jobs of servers that died (answering their
   * ids), then polls. Jobs other live servers run are left alone.
   */
  async start(url: string | null): Promise<string[]> {
    this.url = url;
    await this.liveness.beat(url);
    const failed = await this.liveness.failAbandoned();
    this.beatTimer = setInterval(() => void this.heartbeat(), this.liveness.heartbeatSeconds * 1000);
    this.beatTimer.unref();
    this.schedule(0);
    return failed;
  }

  /** Looks for work now (a job was just queued here). */
  wake(): void {
    if (!this.closed && !this.running) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => void this.poll(), ms);
    this.pollTimer.unref();
  }

  private async heartbeat(): Promise<void> {
    try {
      await this.liveness.beat(this.url);
      await this.liveness.failAbandoned();
    } catch (err) {
      this.onError(err);
    }
  }

  private async poll(): Promise<void> {
    if (this.closed || this.polling || this.running) return;
    this.polling = true;
    try {
      const job = await this.take();
      if (job) {
        this.runningDone = this.run(job);
        await this.runningDone;
        this.schedule(0);
        return;
      }
    } catch (err) {
      this.onError(err);
    } finally {
      this.polling = false;
    }
    this.schedule(POLL_MS);
  }

  /**
   * Takes the oldest queued job and marks its record running here, in one transaction. (When
   * another job is active, pg-boss's fetch fails on its unique index and answers nothing; the
   * aborted transaction then commits as a rollback, which is all there is to do.)
   */
  private take(): Promise<Job | undefined> {
    return inTransaction(this.store.pool, async (client, db) => {
      await client.query('select pg_advisory_xact_lock($1)', [FETCH_LOCK]);
      const [queued] = await this.boss.fetch<{ job_id: string }>(JOB_QUEUE, { batchSize: 1, db } as PgBoss.FetchOptions);
      if (!queued) return undefined;
      const me = this.liveness.me;
      const claimed = await client.query(
        `update nfr_job set status = 'running', started_at = now(), updated_at = now(), current_step = 'starting', server_id = $2, server = $3,
                heartbeat_at = now(), stale_after = now() + $4 * interval '1 second'
          where job_id = $1 and status = 'pending'
          returning *`,
        [queued.id, me.server_id, me.label, this.liveness.staleSeconds],
      );
      if (claimed.rowCount === 0) {
        // Failed while it waited (a last server shut down): nothing to run; the queue lets it go.
        await this.boss.complete(JOB_QUEUE, queued.id, {}, { db });
        return undefined;
      }
      return jobFromRow(claimed.rows[0]);
    });
  }

  /**
   * Graceful shutdown: no new jobs start here, and the running one is given `graceMs` to finish.
   * Queued jobs stay queued for the other live servers; when this is the last one, they are
   * failed (nothing would run them). A job still running after the grace period is marked failed
   * here, so its status says what happened; the caller exits, which ends it like a kill, and
   * every operation is safe against that (the next one cleans up what it left).
   */
  async close(graceMs: number): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.pollTimer);
    const now = () => new Date().toISOString();
    try {
      if ((await this.liveness.otherLiveServers()) === 0) {
        const queued = await this.store.list({ status: 'pending', limit: 10_000 });
        for (const job of queued) {
          await this.finish(job.job_id, { status: 'failed', finished_at: now(), ...failure('INTERRUPTED', 'the server shut down before the job started (no other server was running to take it)') }, 'pending').catch(this.onError);
        }
      }
    } catch (err) {
      this.onError(err);
    }
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([this.runningDone.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs)))]);
    clearTimeout(timer);
    const stuck = this.running;
    if (!finished && stuck) {
      const message = `the server shut down and the job did not finish within the ${Math.round(graceMs / 1000)} s grace period (step: ${stuck.current_step ?? 'unknown'}); the next operation cleans up what it left`;
      this.options.log?.error({ job_id: stuck.job_id, kind: stuck.kind, code: 'INTERRUPTED' }, `job ${stuck.kind} failed: ${message}`);
      await this.finish(stuck.job_id, { status: 'failed', finished_at: now(), ...failure('INTERRUPTED', message) }, 'running').catch(this.onError);
    }
    clearInterval(this.beatTimer);
    await this.liveness.remove().catch(this.onError);
  }

  /** Writes a job's end into its record and the queue together. */
  private finish(jobId: string, change: Parameters<JobStore['update']>[1], onlyIf: 'pending' | 'running'): Promise<Job | undefined> {
    return inTransaction(this.store.pool, async (client, db) => {
      const job = await this.store.update(jobId, change, onlyIf, client);
      if (job) {
        if (job.status === 'completed') await this.boss.complete(JOB_QUEUE, jobId, {}, { db });
        else await this.boss.fail(JOB_QUEUE, jobId, { code: job.error?.code ?? null }, { db });
      }
      return job;
    });
  }

  private async run(job: Job): Promise<void> {
    this.running = job;
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
          .update(
            job.job_id,
            {
              progress_percent: Math.max(0, Math.min(100, Math.round((snapshot.percent ?? 0) * 10) / 10)),
              current_step: snapshot.step ?? null,
              ...(snapshot.counts ? { counts: snapshot.counts } : {}),
              ...(snapshot.errors ? { errors: [...snapshot.errors] } : {}),
            },
            'running',
          )
          .then((j) => {
            if (j) this.running = j;
          })
          .catch(() => {}),
      );
    };
    const now = () => new Date().toISOString();
    // A cancel request is a change of the job's row, made on whichever server got it.
    const cancel = new AbortController();
    let cancelledBy: string | undefined;
    const watchCancel = setInterval(() => {
      this.store
        .cancelRequest(job.job_id)
        .then((asked) => {
          // After the commit a cancel is too late: the work runs on, and the result says so.
          if (asked === undefined || asked.afterCommit || cancel.signal.aborted) return;
          cancelledBy = asked.by;
          cancel.abort(new NfrError('CANCELLED', `cancelled by ${asked.by}`));
        })
        .catch(() => {});
    }, CANCEL_POLL_MS);
    const commitGate: CommitGate = (where, commit) => this.store.commitGate(job.job_id, where, commit);
    watchCancel.unref();
    const started = performance.now();
    const fields = { job_id: job.job_id, kind: job.kind };
    this.options.log?.info(fields, `job ${job.kind} started`);
    try {
      let change: Parameters<JobStore['update']>[1];
      try {
        let result = await this.work(job, report, cancel.signal, commitGate);
        await writing;
        // Asked now, not only as last polled: a cancel that came in the last instant is said too.
        const lateBy = cancelledBy ?? (await this.store.cancelRequest(job.job_id).catch(() => undefined))?.by;
        if (lateBy !== undefined && typeof result === 'object' && result !== null) {
          // Past its last safe point (a restore after its swap, an ingestion's commit), the work completes, and says so.
          result = { ...result, cancel_too_late: `${lateBy} asked to cancel the job after its last safe point (${latest.step ?? 'unknown step'}); it completed` };
        }
        change = { status: 'completed', progress_percent: 100, current_step: 'completed', finished_at: now(), result: result ?? null, counts: latest.counts ?? null, errors: [...(latest.errors ?? [])] };
      } catch (err) {
        await writing;
        const e = toNfrError(err);
        // Stopped by a cancel the poll has not seen yet (the commit gate found it under the row lock).
        if (cancelledBy === undefined && e.code === 'CANCELLED') cancelledBy = (await this.store.cancelRequest(job.job_id).catch(() => undefined))?.by;
        if (cancelledBy !== undefined) {
          // Whatever the work threw once it was told to stop (CANCELLED at a safe point, or an
          // aborted pg_restore), the job ends cancelled, saying where it was and what was kept.
          const message = `cancelled by ${cancelledBy} at step "${latest.step ?? 'starting'}"; nothing of it was kept${e.code === 'CANCELLED' ? '' : ` (it stopped with: ${e.message})`}`;
          change = { status: 'cancelled', finished_at: now(), counts: latest.counts ?? null, ...failure('CANCELLED', message) };
        } else {
          // What the failure's details say wins over what was reported before it; counts add up.
          const found = failureOutcome(e);
          const counts = found.counts || latest.counts ? { ...latest.counts, ...found.counts } : null;
          change = { status: 'failed', finished_at: now(), counts, ...failure(e.code, e.message, found.errors ?? latest.errors) };
        }
      }
      // Only while still running here: a job another server failed (it took this one for dead)
      // keeps the failure it was given.
      const seconds = (performance.now() - started) / 1000;
      const ended = { ...fields, duration_ms: Math.round(seconds * 1000) };
      const status = change.status === 'completed' || change.status === 'cancelled' ? change.status : 'failed';
      if (status === 'completed') this.options.log?.info(ended, `job ${job.kind} completed`);
      else if (status === 'cancelled') this.options.log?.warn({ ...ended, error: change.error?.message }, `job ${job.kind} cancelled`);
      else this.options.log?.error({ ...ended, code: change.error?.code, error: change.error?.message }, `job ${job.kind} failed`);
      const finished = await this.finish(job.job_id, change, 'running');
      if (!finished) this.onError(new Error(`job ${job.job_id} was no longer running here when it ended (another server failed it)`));
      else this.options.onJobEnded?.({ job: finished, status, seconds });
    } catch (err) {
      this.onError(err);
    } finally {
      clearInterval(watchCancel);
      this.running = undefined;
    }
  }
}
