/**
 * Starting and stopping the service: jobs a previous server left running are marked failed, the
 * pool is opened on the live database, and shutdown stops accepting, lets the running job finish
 * (within a grace period) and fails the queued ones.
 */
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import type { Config } from '../config.js';
import { JobRunner } from '../jobs/runner.js';
import { JobStore } from '../jobs/store.js';
import { messageOf } from '../errors.js';
import { clientConfig, withClient } from '../postgres/connection.js';
import { prepareSchema } from '../postgres/migrate.js';
import { removeAbandonedParts } from '../ingest/incoming.js';
import { waitingForLock } from '../snapshot/operation.js';
import { openSnapshotContext } from '../snapshot/store.js';
import { buildApp } from './app.js';
import { tokenTable } from './auth.js';

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly url: string;
  /** Jobs that a previous server left unfinished and that were marked failed at start. */
  readonly interruptedJobs: number;
  /** Migrations applied at start (a database nfr never touched gets its schema). */
  readonly migrated: readonly string[];
  /** What the operator should know, e.g. that the database schema is behind (data routes answer 409). */
  readonly warnings: readonly string[];
  close(graceMs?: number): Promise<void>;
}

/** Jobs queue behind each other and behind CLI operations instead of failing on the lock. */
const JOB_LOCK_WAIT_SECONDS = 3600;

export async function startServer(config: Config, listen: { host?: string; port?: number } = {}): Promise<RunningServer> {
  const requestCtx = await openSnapshotContext(config);
  const ctx = waitingForLock(requestCtx, JOB_LOCK_WAIT_SECONDS);
  const jobs = new JobStore(ctx.store.stateDir);
  await jobs.init();
  const interrupted = await jobs.failInterrupted('interrupted: the server that ran this job stopped before it finished');
  // Uploads a killed server was receiving: their part files would stay forever.
  await removeAbandonedParts(config.dataIngestedPath);
  const runner = new JobRunner(jobs);
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
  const app = await buildApp({ config, ctx, requestCtx, jobs, runner, pool, tokens: tokenTable(config.apiTokens) });
  const address = await app.listen({ host: listen.host ?? config.apiHost, port: listen.port ?? config.apiPort });
  let closing: Promise<void> | undefined;
  return {
    app,
    url: address,
    interruptedJobs: interrupted.length,
    migrated,
    warnings,
    close(graceMs = config.shutdownGraceSeconds * 1000) {
      closing ??= (async () => {
        await app.close();
        await runner.close(graceMs);
        // A request stuck on a connection must not hold the shutdown up.
        await Promise.race([pool.end().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
      })();
      return closing;
    },
  };
}
