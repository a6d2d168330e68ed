/** The worker side of controls-thread.ts: runs ingestStoredControls and posts what happened. */
import { parentPort, workerData } from 'node:worker_threads';
import { NfrError, toNfrError } from '../errors.js';
import { ingestStoredControls } from '../ingest/controls.js';
import { recoverAll } from './recover.js';
import type { IngestThreadCancel, IngestThreadData, IngestThreadMessage } from './controls-thread.js';

const port = parentPort;
if (!port) throw new Error('controls-thread-worker runs as a worker thread');
const { ctx, stored, filename, options } = workerData as IngestThreadData;
const post = (m: IngestThreadMessage) => port.postMessage(m);

const cancel = new AbortController();
const onMessage = (m: IngestThreadCancel) => {
  if (m.type === 'cancel') cancel.abort(new NfrError('CANCELLED', m.reason));
};
port.on('message', onMessage);
try {
  const signal = cancel.signal;
  const result = await ingestStoredControls({ ...ctx, signal, recover: recoverAll, onLockWait: (holder) => post({ type: 'lock-wait', holder }) }, stored, filename, { ...options, signal });
  post({ type: 'done', result });
} catch (err) {
  const e = toNfrError(err);
  post({ type: 'error', code: e.code, message: e.message, details: e.details });
} finally {
  // A listener keeps the thread alive.
  port.off('message', onMessage);
}
