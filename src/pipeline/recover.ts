/**
 * Recovery of what a dead operation left, across every stage: one list of repair steps, run
 *
 * - at the start of every operation (the context's `recover`, called under the operation lock);
 * - periodically in every `nfr serve` (startPeriodicRecovery), so a live database a killed
 *   restore left refusing connections is open again within seconds, with nobody acting;
 * - on demand: `nfr snapshot recover`, `POST /api/v2/devdata/snapshots/recover` (admin).
 *
 * `status` never repairs: it only shows what is pending (the snapshot stage's leftovers).
 *
 * A step is one stage's repair. Each has a read-only `pending` (so a server asks before it takes
 * the lock, and never holds it just to find nothing) and a `run` under the lock. To repair
 * something new a dead operation can leave, add a step to RECOVERY_STEPS.
 */
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { abandonedParts, removeAbandonedParts } from '../ingest/incoming.js';
import { deadUploads, recoverUploads } from '../ingest/upload-records.js';
import { connect } from '../postgres/connection.js';
import type { Context, RecoveryReport } from '../runtime/context.js';
import { recoverNow } from '../runtime/operation.js';
import { recoverLeftovers, snapshotLeftovers } from '../snapshot/recover.js';
import type { z } from 'zod';
import type { recoverResultSchema } from './shapes.js';

export interface RecoveryStep {
  readonly name: string;
  /** What the step would repair, for people; reads only. */
  pending(ctx: Context, maint: pg.ClientBase): Promise<string[]>;
  /** Repairs it; runs under the operation lock. Returns its part of the report. */
  run(ctx: Context, maint: pg.ClientBase): Promise<Partial<RecoveryReport>>;
}

/** Every stage's repair, in order: the snapshot stage first (it reopens a blocked live database). */
export const RECOVERY_STEPS: readonly RecoveryStep[] = [
  {
    name: 'snapshots',
    pending: (ctx, maint) => snapshotLeftovers(ctx, maint),
    run: (ctx, maint) => recoverLeftovers(ctx, maint),
  },
  {
    name: 'upload parts',
    pending: async (ctx) => (await abandonedParts(ctx.config.dataIngestedPath)).map((name) => `abandoned upload part ${name}`),
    run: async (ctx) => ({ removed_upload_parts: await removeAbandonedParts(ctx.config.dataIngestedPath) }),
  },
  {
    // An ingestion killed mid-batch left its upload `running`: under the lock (every ingestion
    // holds it while it runs) no `running` batch is alive, so each is marked failed at once.
    name: 'dead ingestions',
    pending: async (ctx) => (await deadUploads(ctx)).map((id) => `upload ${id} left running by an ingestion that died`),
    run: async (ctx) => ({ failed_uploads: await recoverUploads(ctx, { holdingLock: true }) }),
  },
];

const EMPTY_REPORT: RecoveryReport = {
  removed_temp_dirs: [],
  dropped_databases: [],
  reopened_database: false,
  dropped_collections: [],
  completed_index_switch: false,
  removed_upload_parts: [],
  failed_uploads: [],
};

/** The context's Recovery: every step, under the lock the caller holds. */
export async function recoverAll(ctx: Context, maint: pg.ClientBase): Promise<RecoveryReport> {
  let report = EMPTY_REPORT;
  for (const step of RECOVERY_STEPS) report = { ...report, ...(await step.run(ctx, maint)) };
  return report;
}

/** What the steps would repair right now; reads only. */
export async function pendingRecovery(ctx: Context): Promise<string[]> {
  const maint = await connect(ctx.maintenance, 'nfr recover check');
  try {
    const found: string[] = [];
    for (const step of RECOVERY_STEPS) found.push(...(await step.pending(ctx, maint)));
    return found;
  } finally {
    await maint.end().catch(() => {});
  }
}

/** True when a report says something was repaired. */
export function repairedAnything(r: RecoveryReport): boolean {
  return Object.values(r).some((v) => (Array.isArray(v) ? v.length > 0 : v === true));
}

/** What one recovery run repaired, for people ('' when nothing). */
export function describeRecovery(r: RecoveryReport): string {
  const repaired = [
    ...r.removed_temp_dirs.map((d) => `removed the temporary directory of ${d}`),
    ...r.dropped_databases.map((d) => `dropped database ${d}`),
    ...(r.reopened_database ? ['reopened the live database to connections'] : []),
    ...r.dropped_collections.map((c) => `deleted Qdrant collection ${c}`),
    ...(r.completed_index_switch ? ['made the restored Qdrant collection live'] : []),
    ...r.removed_upload_parts.map((p) => `removed upload part ${p}`),
    ...r.failed_uploads.map((u) => `marked upload ${u} failed (its ingestion died)`),
  ];
  return repaired.join('; ');
}

/** Defined once, in pipeline/shapes.ts (the API's response schema is generated from it). */
export type RecoverResult = z.infer<typeof recoverResultSchema>;

/** `nfr snapshot recover` and its API route: recovery now, waiting for the lock as configured. */
export async function recoverOnDemand(ctx: Context): Promise<RecoverResult> {
  const report = (await recoverNow(ctx)) ?? EMPTY_REPORT;
  return { ...report, repaired: repairedAnything(report), summary: describeRecovery(report) || 'nothing to repair' };
}

const FIRST_RUN_LOCK_WAIT_SECONDS = 5;

/**
 * Runs recovery every `intervalSeconds` while a server runs: only when a step finds something,
 * and only when the lock is free right now (never waiting, so it never holds up an operation; a
 * running operation's work is not a leftover). Reports repairs and failures through `log`.
 */
export function startPeriodicRecovery(ctx: Context, intervalSeconds: number, log: (message: string) => void): { readonly firstRun: Promise<void>; stop(): Promise<void> } {
  if (intervalSeconds <= 0) return { firstRun: Promise.resolve(), stop: async () => {} };
  let running: Promise<void> | undefined;
  let lastError = '';
  // The first run, at start-up, waits a little for the lock: the server's own start-up work may
  // hold it for a moment, and what a killed server left must not wait a whole interval (or, for
  // a server stopped at once, forever). Later runs never wait.
  let waitSeconds = Math.min(intervalSeconds, FIRST_RUN_LOCK_WAIT_SECONDS);
  const tick = async () => {
    const wait = waitSeconds;
    waitSeconds = 0;
    try {
      if ((await pendingRecovery(ctx)).length === 0) return;
      const report = await recoverNow(ctx, wait).catch((err: unknown) => {
        if (err instanceof NfrError && err.code === 'LOCKED') return undefined; // an operation runs: next time
        throw err;
      });
      if (report && repairedAnything(report)) log(`recovered what a dead operation left: ${describeRecovery(report)}`);
      lastError = '';
    } catch (err) {
      // Said once per distinct problem: a database server that is down fails every tick.
      const message = (err as Error).message;
      if (message !== lastError) log(`recovery failed: ${message}`);
      lastError = message;
    }
  };
  const timer = setInterval(() => {
    running ??= tick().finally(() => (running = undefined));
  }, intervalSeconds * 1000);
  timer.unref();
  const firstRun = tick().finally(() => (running = undefined));
  running = firstRun;
  return {
    firstRun,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
