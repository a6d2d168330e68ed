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
import { NfrError, type ErrorCode } from '../errors.js';
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
  | { readonly type: 'error'; readonly code: ErrorCode; readonly message: string; readonly details: Record<string, unknown> | undefined };

/** Caller → thread: the job was cancelled (the thread stops at its next safe point). */
export interface IngestThreadCancel {
  readonly type: 'cancel';
  readonly reason: string;
}

export interface IngestThreadData {
  /** The context without its functions (they do not cross to a thread): the worker adds them again. */
  readonly ctx: Omit<Context, 'onLockWait' | 'recover' | 'signal'>;
  readonly stored: StoredUpload;
  readonly filename: string;
  readonly options: Omit<ControlsIngestOptions, 'dryRun' | 'onProgress' | 'signal'>;
}

export function ingestStoredControlsOnThread(ctx: Context, stored: StoredUpload, filename: string, options: IngestThreadData['options']): Promise<ControlsIngestResult> {
  const { onLockWait, recover: _recover, signal, ...plain } = ctx;
  const data: IngestThreadData = { ctx: plain, stored, filename, options };
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
    worker.on('message', (m: IngestThreadMessage) => {
      if (m.type === 'lock-wait') onLockWait?.(m.holder);
      else if (m.type === 'done') settle(() => resolve(m.result));
      else settle(() => reject(new NfrError(m.code, m.message, { details: m.details })));
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
    worker.on('exit', (code) => settle(() => reject(new NfrError('INTERNAL', `the ingestion thread for ${filename} stopped (exit code ${code}) before it answered`))));
  });
}
