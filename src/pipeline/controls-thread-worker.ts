/** The worker side of controls-thread.ts: runs ingestStoredControls and posts what happened. */
import { parentPort, workerData } from 'node:worker_threads';
import { toNfrError } from '../errors.js';
import { ingestStoredControls } from '../ingest/controls.js';
import { recoverLeftovers } from '../snapshot/recover.js';
import type { IngestThreadData, IngestThreadMessage } from './controls-thread.js';

const port = parentPort;
if (!port) throw new Error('controls-thread-worker runs as a worker thread');
const { ctx, stored, filename, options } = workerData as IngestThreadData;
const post = (m: IngestThreadMessage) => port.postMessage(m);

try {
  const result = await ingestStoredControls({ ...ctx, recover: recoverLeftovers, onLockWait: (holder) => post({ type: 'lock-wait', holder }) }, stored, filename, options);
  post({ type: 'done', result });
} catch (err) {
  const e = toNfrError(err);
  post({ type: 'error', code: e.code, message: e.message, details: e.details });
}
