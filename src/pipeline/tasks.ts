/**
 * The work behind every job kind, as the queue runs it: a job record holds only its kind and
 * parameters (JSON), so whichever server takes it from the queue can do it. The same core
 * functions the CLI calls run here — ingest, enrich and auto-snapshot, create, restore — so every
 * behaviour (AUTO_SNAPSHOT_AFTER_INGESTION among them) is the same from the CLI and the API. The
 * routes only check a request and queue its job.
 */
import path from 'node:path';
import { z } from 'zod';
import { NfrError } from '../errors.js';
import { syncIndex } from '../index/sync.js';
import { ingestContext } from '../ingest/context.js';
import { isUploadId, type StoredUpload } from '../ingest/uploads.js';
import type { JobReport, JobWork } from '../jobs/runner.js';
import type { Job, JobKind, JobStore } from '../jobs/store.js';
import { createSnapshot } from '../snapshot/create.js';
import { DIFF_CHANGES, DIFF_ENTITIES, diffSnapshot } from '../snapshot/diff/index.js';
import { parseSnapshotId } from '../snapshot/ids.js';
import { summarize } from '../snapshot/manifest.js';
import { restoreSnapshot, undoLastRestore } from '../snapshot/restore/index.js';
import { pruneSnapshots } from '../snapshot/retention.js';
import type { Context } from '../runtime/context.js';
import { warmSnapshot } from '../snapshot/warm.js';
import { pushSnapshot } from '../snapshot/offsite/copies.js';
import { afterContextIngested, afterControlsIngested } from './controls.js';
import { ingestStoredControlsOnThread } from './controls-thread.js';
import { contextOutcome, controlsOutcome, indexSyncOutcome, snapshotProgress } from './outcome.js';

const uploadId = z.string().refine(isUploadId, 'an upload id UPL-YYYY-NNNN');

/** Each kind's parameters, as the route stores them and the task reads them back. */
export const TASK_PARAMS = {
  'snapshot.create': z.object({ snapshot_id: z.string(), name: z.string(), description: z.string().nullable(), tags: z.array(z.string()), full: z.boolean(), warm: z.boolean() }),
  'snapshot.restore': z.object({ snapshot_id: z.string(), skip_backup: z.boolean(), force: z.boolean(), resync: z.boolean() }),
  'snapshot.undo': z.object({}),
  'snapshot.warm': z.object({ snapshot_id: z.string() }),
  'snapshot.diff': z.object({
    snapshot_id: z.string(),
    to: z.string(),
    limit: z.number().int().optional(),
    cursor: z.string().optional(),
    entity: z.enum(DIFF_ENTITIES.map((e) => e.entity)).optional(),
    change: z.enum(DIFF_CHANGES).optional(),
  }),
  'snapshot.push': z.object({ snapshot_id: z.string() }),
  'ingest.controls': z.object({
    upload_id: uploadId,
    filename: z.string(),
    skip_invalid: z.boolean(),
    close_missing: z.boolean(),
    /** Where the upload is, relative to DATA_INGESTED_PATH (shared by the servers), and what it is. */
    stored_file: z.string(),
    size_bytes: z.number().int(),
    sha256: z.string(),
  }),
  'ingest.context': z.object({ dry_run: z.boolean().optional(), skip_invalid: z.boolean().optional(), allow_empty: z.boolean().optional() }),
  'index.sync': z.object({ force: z.boolean() }),
  /** A schedule's run (schedules/ticker.ts): the snapshot's name and tags are decided at the tick. */
  'snapshot.scheduled': z.object({ schedule: z.string(), tick_at: z.string(), name: z.string(), tags: z.array(z.string()), full: z.boolean(), warm: z.boolean(), prune: z.boolean() }),
} as const satisfies Record<JobKind, z.ZodType>;

export type TaskParams<K extends JobKind> = z.infer<(typeof TASK_PARAMS)[K]>;

type Task<K extends JobKind> = (ctx: Context, params: TaskParams<K>, report: (r: JobReport) => void) => Promise<unknown>;

const TASKS: { [K in JobKind]: Task<K> } = {
  'snapshot.create': async (ctx, p, report) => {
    const m = await createSnapshot(ctx, {
      id: parseSnapshotId(p.snapshot_id),
      name: p.name,
      description: p.description ?? undefined,
      tags: p.tags,
      full: p.full,
      warm: p.warm,
      onProgress: (progress) => report(snapshotProgress(progress.phase === 'restoring' || progress.phase === 'checking' ? 'warm' : 'create', progress)),
    });
    return summarize(m, m.warm);
  },
  'snapshot.restore': async (ctx, p, report) => {
    const id = parseSnapshotId(p.snapshot_id);
    // The next spare is made by this server's spare loop once the lock is free (spares.ts), so
    // the job ends when the live database has switched.
    return restoreSnapshot(ctx, { id, skipBackup: p.skip_backup, force: p.force, resync: p.resync, onProgress: (progress) => report(snapshotProgress('restore', progress)) });
  },
  'snapshot.undo': (ctx) => undoLastRestore(ctx),
  'snapshot.diff': (ctx, p, report) =>
    diffSnapshot(ctx, {
      id: parseSnapshotId(p.snapshot_id),
      to: p.to === 'live' ? 'live' : parseSnapshotId(p.to),
      limit: p.limit,
      cursor: p.cursor,
      entity: p.entity,
      change: p.change,
      onProgress: (progress) => report(snapshotProgress('diff', progress)),
    }),
  'snapshot.warm': (ctx, p, report) => warmSnapshot(ctx, { id: parseSnapshotId(p.snapshot_id), onProgress: (progress) => report(snapshotProgress('warm', progress)) }),
  'snapshot.push': (ctx, p, report) => pushSnapshot(ctx, parseSnapshotId(p.snapshot_id), (progress) => report(snapshotProgress('push', progress))),
  'ingest.controls': async (ctx, p, report) => {
    report({ step: 'ingesting', percent: 5 });
    const stored: StoredUpload = {
      uploadId: p.upload_id as StoredUpload['uploadId'],
      storedPath: path.join(ctx.config.dataIngestedPath, p.stored_file),
      relativePath: p.stored_file,
      sizeBytes: p.size_bytes,
      sha256: p.sha256,
    };
    // On a thread of its own, with a bounded heap (controls-thread.ts).
    const ingested = await ingestStoredControlsOnThread(ctx, stored, p.filename, { skipInvalid: p.skip_invalid, closeMissing: p.close_missing });
    // Counted now, so they stay on the job if enrichment or the auto-snapshot fails.
    report(controlsOutcome(ingested));
    // The batch is committed: a cancel from here on is too late, and what follows completes.
    return afterControlsIngested(uncancellable(ctx), ingested, { report });
  },
  'ingest.context': async (ctx, p, report) => {
    report({ step: 'ingesting', percent: 5 });
    // The path is the server's configuration, never taken from the request.
    const result = await ingestContext(ctx, { dryRun: p.dry_run, skipInvalid: p.skip_invalid, allowEmpty: p.allow_empty });
    report(contextOutcome(result));
    if (!result.ok) {
      const problems = result.providers.flatMap((f) => f.files).flatMap((f) => f.errors).slice(0, 5);
      throw new NfrError('INVALID_INPUT', `context ingestion rejected ${result.totals.files_rejected} file(s): ${problems.map((e) => `${e.file}${e.line ? `:${e.line}` : ''} ${e.field ?? ''} ${e.message}`).join('; ')}`);
    }
    return afterContextIngested(uncancellable(ctx), result, report);
  },
  'snapshot.scheduled': async (ctx, p, report) => {
    const m = await createSnapshot(ctx, {
      name: p.name,
      description: `taken by schedule "${p.schedule}" at its tick of ${p.tick_at}`,
      tags: p.tags,
      full: p.full,
      warm: p.warm,
      onProgress: (progress) => report(snapshotProgress(progress.phase === 'restoring' || progress.phase === 'checking' ? 'warm' : 'create', progress)),
    });
    const snapshot = summarize(m, m.warm);
    if (!p.prune) return { schedule: p.schedule, snapshot, prune: null };
    // The snapshot is taken: a cancel from here on is too late for it, and retention follows.
    report({ step: 'pruning' });
    const pruned = await pruneSnapshots(uncancellable(ctx), { dryRun: false });
    return { schedule: p.schedule, snapshot, prune: { deleted: pruned.deleted.map((d) => d.id), freed_bytes: pruned.freed_bytes } };
  },
  'index.sync': async (ctx, p, report) => {
    report({ step: 'syncing', percent: 5 });
    const result = await syncIndex(ctx, { force: p.force });
    report(indexSyncOutcome(result));
    return result;
  },
};

/**
 * The queue's work function: runs a job's task in a context whose lock waits show as the job's
 * step ("waiting for the lock held by …").
 */
export function jobWork(ctx: Context): JobWork {
  return async (job: Job, reportTo, signal, commitGate) => {
    const parsed = TASK_PARAMS[job.kind].safeParse(job.params);
    if (!parsed.success) throw new NfrError('INVALID_INPUT', `job ${job.job_id} (${job.kind}) has parameters this version cannot read: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
    const jobCtx: Context = { ...ctx, signal, commitGate, onLockWait: (holder: string) => reportTo({ step: `waiting for the lock held by ${holder}` }) };
    return (TASKS[job.kind] as Task<JobKind>)(jobCtx, parsed.data, reportTo);
  };
}

/** The same context without the job's cancel signal: for work past the job's last safe point. */
function uncancellable(ctx: Context): Context {
  const { signal: _signal, commitGate: _gate, ...rest } = ctx;
  return rest;
}

/** A job's parameters, checked against what the task will read (for a caller that queues it itself). */
export function queueParams<K extends JobKind>(kind: K, params: TaskParams<K>): Record<string, unknown> {
  return TASK_PARAMS[kind].parse(params) as Record<string, unknown>;
}

/** Queues a job of `kind` (its parameters checked against what the task will read). */
export function queueJob<K extends JobKind>(jobs: JobStore, kind: K, params: TaskParams<K>): Promise<Job> {
  return jobs.create(kind, TASK_PARAMS[kind].parse(params) as Record<string, unknown>);
}
