/**
 * Control ingestion of a stored upload on a worker thread with a bounded heap, for `nfr serve`.
 *
 * In the server's own heap, V8 let the old generation grow with the garbage of 200,000 parsed
 * rows until the process peaked at 260 MiB where the CLI, for the same file, peaks at 161 MiB
 * (a larger heap gets a larger growth allowance; nothing is kept). A worker has its own heap,
 * whose limits are set here (resourceLimits), so it collects early; and the server's event loop
 * stays free for the requests that arrive meanwhile. The work is the CLI's (ingestStoredControls),
 * with the same lock, the same transaction and the same errors, sent back as NfrError.
 */
import { Worker } from 'node:worker_threads';
import { NfrError, toNfrError, type ErrorCode } from '../errors.js';
import type { CommitGate } from '../runtime/cancel.js';
import type { Context } from '../runtime/context.js';
import type { ControlsIngestOptions, ControlsIngestResult } from '../ingest/controls.js';
import type { StoredUpload } from '../ingest/uploads.js';

/** Old-generation bound of the ingestion thread: ingestion keeps batches, not files. */
export const INGEST_THREAD_HEAP_MB = 96;

const WORKER = new URL('./controls-thread-worker.js', import.meta.url);

/** Thread → caller. */
export type IngestThreadMessage =
  | { readonly type: 'lock-wait'; readonly holder: string }
  | { readonly type: 'done'; readonly result: ControlsIngestResult }
  | { readonly type: 'error'; readonly code: ErrorCode; readonly message: string; readonly details: Record<string, unknown> | undefined }
  // The job's commit gate, across the thread: the batch is ready to commit; it committed; its commit failed.
  | { readonly type: 'commit-ready'; readonly where: string }
  | { readonly type: 'committed' }
  | { readonly type: 'commit-failed'; readonly message: string };

/** Caller → thread: the job was cancelled (the thread stops at its next safe point). */
export interface IngestThreadCancel {
  readonly type: 'cancel';
  readonly reason: string;
}

/** Caller → thread: the gate's answer to `commit-ready`: commit now (under the job's row lock), or do not. */
export type IngestThreadGate = { readonly type: 'commit-go' } | { readonly type: 'commit-refused'; readonly code: ErrorCode; readonly message: string };

export interface IngestThreadData {
  /** The context without its functions (they do not cross to a thread): the worker adds them again. */
  readonly ctx: Omit<Context, 'onLockWait' | 'recover' | 'signal'>;
  readonly stored: StoredUpload;
  readonly filename: string;
  readonly options: Omit<ControlsIngestOptions, 'dryRun' | 'onProgress' | 'signal' | 'commitGate'>;
  /** The job has a commit gate (the thread asks it with `commit-ready`). */
  readonly gated: boolean;
}

export function ingestStoredControlsOnThread(ctx: Context, stored: StoredUpload, filename: string, options: IngestThreadData['options']): Promise<ControlsIngestResult> {
  const { onLockWait, recover: _recover, signal, commitGate, ...plain } = ctx;
  const data: IngestThreadData = { ctx: plain, stored, filename, options, gated: commitGate !== undefined };
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { workerData: data, resourceLimits: { maxOldGenerationSizeMb: INGEST_THREAD_HEAP_MB, maxYoungGenerationSizeMb: 16 } });
    // An AbortSignal does not cross to a thread: a cancel is passed on as a message.
    const onCancel = () => worker.postMessage({ type: 'cancel', reason: signal?.reason instanceof Error ? signal.reason.message : 'cancelled' } satisfies IngestThreadCancel);
    if (signal?.aborted) onCancel();
    else signal?.addEventListener('abort', onCancel, { once: true });
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onCancel);
      fn();
    };
    // The gate runs here, where the job's row is: it holds the row lock while the thread commits.
    let gating: Promise<void> = Promise.resolve();
    let committing: { resolve(): void; reject(err: Error): void } | undefined;
    let answered = false;
    const gate = (where: string) => {
      let asked = false;
      gating = (commitGate as CommitGate)(where, () => {
        asked = true;
        return new Promise<void>((resolveCommit, rejectCommit) => {
          committing = { resolve: resolveCommit, reject: rejectCommit };
          worker.postMessage({ type: 'commit-go' } satisfies IngestThreadGate);
        });
      }).catch((err: unknown) => {
        // Refused (cancelled): the thread rolls back. A failure once the thread was told to commit
        // is the thread's to report (it answers done or error).
        const e = toNfrError(err);
        if (!asked) worker.postMessage({ type: 'commit-refused', code: e.code, message: e.message } satisfies IngestThreadGate);
      });
    };
    worker.on('message', (m: IngestThreadMessage) => {
      if (m.type === 'lock-wait') onLockWait?.(m.holder);
      else if (m.type === 'commit-ready') gate(m.where);
      else if (m.type === 'committed') committing?.resolve();
      else if (m.type === 'commit-failed') committing?.reject(new Error(m.message));
      // Answered once the gate has let the job's row go; the thread may exit before that.
      else if (m.type === 'done') {
        answered = true;
        void gating.then(() => settle(() => resolve(m.result)));
      } else {
        answered = true;
        void gating.then(() => settle(() => reject(new NfrError(m.code, m.message, { details: m.details }))));
      }
    });
    worker.on('error', (err: Error & { code?: string }) =>
      settle(() =>
        reject(
          err.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new NfrError('INTERNAL', `ingestion of ${filename} needed more than its ${INGEST_THREAD_HEAP_MB} MB heap; nothing was written (the batch is one transaction)`, { cause: err })
            : err,
        ),
      ),
    );
    // A thread gone mid-commit lets the gate go (recovery finds out whether the batch committed).
    worker.on('exit', () => committing?.reject(new Error('the ingestion thread stopped while committing')));
    worker.on('exit', (code) => {
      if (!answered) settle(() => reject(new NfrError('INTERNAL', `the ingestion thread for ${filename} stopped (exit code ${code}) before it answered`)));
    });
  });
}
