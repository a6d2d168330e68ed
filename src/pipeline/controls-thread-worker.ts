/** The worker side of controls-thread.ts: runs ingestStoredControls and posts what happened. */
import { parentPort, workerData } from 'node:worker_threads';
import { messageOf, NfrError, toNfrError } from '../errors.js';
import { ingestStoredControls } from '../ingest/controls.js';
import { recoverAll } from './recover.js';
import type { CommitGate } from '../runtime/cancel.js';
import type { IngestThreadCancel, IngestThreadData, IngestThreadGate, IngestThreadMessage } from './controls-thread.js';

const port = parentPort;
if (!port) throw new Error('controls-thread-worker runs as a worker thread');
const { ctx, stored, filename, options, gated } = workerData as IngestThreadData;
const post = (m: IngestThreadMessage) => port.postMessage(m);

const cancel = new AbortController();
// The job's commit gate is the caller's (it holds the job's row): asked across the thread.
let answer: ((m: IngestThreadGate) => void) | undefined;
const commitGate: CommitGate | undefined = gated
  ? (where, commit) =>
      new Promise<void>((resolve, reject) => {
        answer = (m) => {
          answer = undefined;
          if (m.type === 'commit-refused') return reject(new NfrError(m.code, m.message));
          commit().then(
            () => (post({ type: 'committed' }), resolve()),
            (err: unknown) => (post({ type: 'commit-failed', message: messageOf(err) }), reject(err)),
          );
        };
        post({ type: 'commit-ready', where });
      })
  : undefined;
const onMessage = (m: IngestThreadCancel | IngestThreadGate) => {
  if (m.type === 'cancel') cancel.abort(new NfrError('CANCELLED', m.reason));
  else answer?.(m);
};
port.on('message', onMessage);
try {
  const signal = cancel.signal;
  const result = await ingestStoredControls({ ...ctx, signal, recover: recoverAll, onLockWait: (holder) => post({ type: 'lock-wait', holder }) }, stored, filename, { ...options, signal, ...(commitGate ? { commitGate } : {}) });
  post({ type: 'done', result });
} catch (err) {
  const e = toNfrError(err);
  post({ type: 'error', code: e.code, message: e.message, details: e.details });
} finally {
  // A listener keeps the thread alive.
  port.off('message', onMessage);
}
