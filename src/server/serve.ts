/**
 * Starting and stopping the service: the control database (job queue, heartbeats) is opened and
 * migrated, jobs of servers that died are failed (never those of live ones), the pool is opened
 * on the live database, and shutdown stops accepting, lets the running job finish (within a grace
 * period) and leaves queued jobs to the other servers (or fails them, if this was the last one).
 */
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import PgBoss from 'pg-boss';
import type { Config } from '../config.js';
import { messageOf } from '../errors.js';
import { openControlDatabase, QUEUE_SETUP_LOCK } from '../jobs/control-db.js';
import { Liveness, newServerIdentity } from '../jobs/liveness.js';
import { JobRunner } from '../jobs/runner.js';
import { JOB_QUEUE, JobStore } from '../jobs/store.js';
import { clientConfig, withClient } from '../postgres/connection.js';
import { prepareSchema } from '../postgres/migrate.js';
import { withPoolClient } from '../postgres/pool.js';
import { ServerMetrics } from '../pipeline/metrics.js';
import { jobWork } from '../pipeline/tasks.js';
import { waitingForLock } from '../runtime/operation.js';
import { openContext } from '../pipeline/context.js';
import { firingAlerts, startWatcher } from '../alerts/watcher.js';
import { ScheduleStore } from '../schedules/store.js';
import { pgBossCronOptions, startTicker } from '../schedules/ticker.js';
import { startPeriodicRecovery } from '../pipeline/recover.js';
import { startBackgroundVerify } from '../pipeline/background-verify.js';
import { startSparePreparation } from '../pipeline/spares.js';
import { buildApp } from './app.js';
import { pushPending } from '../snapshot/offsite/copies.js';
import { offsiteRepository } from '../snapshot/offsite/repository.js';
import type { Context } from '../runtime/context.js';
import { tokenTable } from './auth.js';
import { serverLogger, type Logger } from './log.js';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Jobs of servers that died, failed at start. */
  readonly interruptedJobs: number;
  /** Migrations applied at start (a database nfr never touched gets its schema). */
  readonly migrated: readonly string[];
  /** What the operator should know, e.g. that the database schema is behind (data routes answer 409). */
  readonly warnings: readonly string[];
  close(graceMs?: number): Promise<void>;
}

/** Jobs queue behind each other and behind CLI operations instead of failing on the lock. */
const JOB_LOCK_WAIT_SECONDS = 3600;

export interface ServerOptions {
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  /** Where the log goes (default: JSON lines on stdout at NFR_LOG_LEVEL). */
  readonly log?: Logger;
}

export async function startServer(config: Config, listen: ServerOptions = {}): Promise<RunningServer> {
  const log = listen.log ?? serverLogger(config);
  const requestCtx = await openContext(config);
  const ctx = waitingForLock(requestCtx, JOB_LOCK_WAIT_SECONDS);
  // A bucket that is missing, unreachable or refuses us is said at start-up, not at the first push.
  await offsiteRepository(config).check();
  const control = await openControlDatabase(ctx);
  // What is open so far, closed again in reverse if the start fails half-way (a busy port): a
  // pool or pg-boss's timers left open would keep the process from exiting.
  const opened: (() => Promise<unknown>)[] = [];
  const closeOpened = async () => {
    for (const close of opened.reverse()) await close().catch(() => {});
  };
  try {
    const controlPool = new pg.Pool({ ...clientConfig(control, 'nfr serve jobs'), max: 4, idleTimeoutMillis: 30_000 });
    controlPool.on('error', () => {});
    opened.push(() => controlPool.end());
    // Said once per distinct problem: a control database that is down fails every poll.
    let lastLogged = '';
    const logError = (err: unknown) => {
      const message = messageOf(err);
      if (message !== lastLogged) log.error({ err }, `job queue: ${message}`);
      lastLogged = message;
    };
    // pg-boss keeps the queue (its schema `pgboss` in the control database); nfr takes jobs itself
    // (runner.ts), so pg-boss supervises (archiving finished jobs, expiring lost ones) and fires
    // the schedules' ticks (its scheduler; schedules/ticker.ts takes them).
    const boss = new PgBoss({
      ...(clientConfig(control, 'nfr serve queue') as PgBoss.DatabaseOptions),
      max: 2,
      schedule: true,
      ...pgBossCronOptions(config.scheduleCheckSeconds),
      supervise: true,
    });
    boss.on('error', logError);
    await startQueueOnce(controlPool, boss);
    opened.push(() => boss.stop({ graceful: false, wait: true, close: true, timeout: 2000 }));
    const jobs = new JobStore(controlPool, boss, control.database);
    const liveness = new Liveness(controlPool, boss, newServerIdentity(), config.heartbeatSeconds, config.warmSpare && config.recoverIntervalSeconds > 0);
    // Filled in once the live pool exists; jobs only end after that.
    let metrics: ServerMetrics | undefined;
    const runner = new JobRunner(jobs, boss, liveness, jobWork(ctx), {
      log,
      onJobEnded: ({ job, status, seconds }) => metrics?.jobDuration.observe({ kind: job.kind, status }, seconds),
    });
    jobs.onQueued = () => runner.wake();
    const warnings: string[] = [];
    let migrated: string[] = [];
    try {
      migrated = await withClient(ctx.target, (client) => prepareSchema(client, ctx.target), 'nfr serve');
    } catch (err) {
      // Snapshot routes work whatever the schema (a restore may be the fix); data routes say why not.
      warnings.push(messageOf(err));
    }
    const pool = new pg.Pool({ ...clientConfig(ctx.target, 'nfr serve'), max: 10, idleTimeoutMillis: 30_000 });
    // Sessions ended by a restore's swap surface here for idle clients; the pool drops them and
    // opens new ones (to the swapped-in database) on demand.
    pool.on('error', () => {});
    opened.push(() => pool.end());
    const schedules = new ScheduleStore(controlPool);
    metrics = new ServerMetrics({
      ctx,
      jobs,
      queryLive: async (sql) => (await withPoolClient(pool, (c) => c.query(sql))).rows,
      schedules: () => schedules.list(),
      firingAlerts: () => firingAlerts(controlPool),
    });
    const serverMetrics = metrics;
    const app = await buildApp({ config, ctx, requestCtx, jobs, runner, pool, tokens: tokenTable(config.apiTokens), log, metrics });
    opened.push(() => app.close());
    const address = await app.listen({ host: listen.host ?? config.apiHost, port: listen.port ?? config.apiPort });
    const interrupted = await runner.start(address);
    // Schedules run from every server: pg-boss fires each tick, one server takes it (schedules/ticker.ts).
    const ticker = startTicker(jobs, boss, config.scheduleCheckSeconds, logError);
    // Every server watches for what the webhooks are told; each alert is claimed by one.
    const watcher = startWatcher({
      ctx,
      jobs,
      config: config.alerts,
      server: runner.server.label,
      report: {
        log: (line) => log.warn(line),
        failed: (event) => serverMetrics.alertDeliveryFailures.inc({ event }),
        delivered: (event) => serverMetrics.alertDeliveries.inc({ event }),
      },
      onError: (err) => log.error({ err }, `alerts: ${messageOf(err)}`),
    });
    const offsiteRetry = retryOffsite(requestCtx, logError);
    // What a dead operation left (a live database a killed restore left refusing connections,
    // staging databases, upload parts) is repaired by every server within seconds, not only
    // by the next operation: nobody has to run a command for the service to come back.
    const recovery = startPeriodicRecovery(requestCtx, config.recoverIntervalSeconds, (message) => log.warn({ component: 'recovery' }, message));
    opened.push(() => recovery.stop());
    // Before the server says it listens: a server started after a crash has repaired what the
    // crash left by the time anyone is told it is up.
    await recovery.firstRun;
    const verifying = startBackgroundVerify(requestCtx, config.verifyIntervalSeconds, (message) => log.warn({ component: 'verify' }, message));
    opened.push(() => verifying.stop());
    // The next spare after a restore, and any spare a killed preparer did not finish (spares.ts).
    const sparing = startSparePreparation(requestCtx, config.recoverIntervalSeconds, (message) => log.info({ component: 'spares' }, message));
    opened.push(() => sparing.stop());
    let closing: Promise<void> | undefined;
    return {
      app,
      url: address,
      interruptedJobs: interrupted.length,
      migrated,
      warnings,
      close(graceMs = config.shutdownGraceSeconds * 1000) {
        closing ??= (async () => {
          offsiteRetry.stop();
          await Promise.all([recovery.stop(), verifying.stop()]);
          await app.close();
          await ticker.stop();
          await watcher.stop();
          await runner.close(graceMs);
          await boss.stop({ graceful: false, wait: true, close: true, timeout: 2000 }).catch(() => {});
          // A request stuck on a connection must not hold the shutdown up.
          await Promise.race([Promise.all([pool.end(), controlPool.end()]).catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
        })();
        return closing;
      },
    };
  } catch (err) {
    await closeOpened();
    throw err;
  }
}

/** How often a server pushes the snapshots that are not offsite yet (a failed upload, a bucket that was down). */
const OFFSITE_RETRY_MS = 5 * 60_000;

/** Retries pushes in the background; a busy lock just means next time. */
function retryOffsite(ctx: Context, logError: (err: unknown) => void): { stop(): void } {
  if (!offsiteRepository(ctx.config).configured) return { stop() {} };
  let running = false;
  const tick = () => {
    if (running) return;
    running = true;
    pushPending(ctx)
      .then((results) => {
        for (const r of results) if (!r.ok) logError(new Error(`offsite push of ${r.id}: ${r.error}`));
      }, logError)
      .finally(() => (running = false));
  };
  const first = setTimeout(tick, 30_000);
  const timer = setInterval(tick, OFFSITE_RETRY_MS);
  first.unref();
  timer.unref();
  return {
    stop() {
      clearTimeout(first);
      clearInterval(timer);
    },
  };
}

/**
 * Starts pg-boss and creates the queue if it does not exist: one active job at a time across every
 * server, oldest first; never retried (a half-done restore is not repeated behind the operator's
 * back); a backstop expiry under pg-boss's cap. Both under the queue set-up lock: pg-boss's start
 * creates its scheduler's send-it queue, and two servers adding partitions at once deadlock.
 */
async function startQueueOnce(pool: pg.Pool, boss: PgBoss): Promise<void> {
  await withPoolClient(
    pool,
    async (client) => {
      await client.query('select pg_advisory_lock($1)', [QUEUE_SETUP_LOCK]);
      try {
        await boss.start();
        if (!(await boss.getQueue(JOB_QUEUE))) await boss.createQueue(JOB_QUEUE, { name: JOB_QUEUE, policy: 'singleton', retryLimit: 0, expireInSeconds: 23 * 3600 });
      } finally {
        await client.query('select pg_advisory_unlock($1)', [QUEUE_SETUP_LOCK]);
      }
    },
    false,
  );
}
