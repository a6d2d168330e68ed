/**
 * The records of a controls CSV, parsed by csv-parse on a worker thread while the caller validates
 * and COPYs the ones before. Parsing was about 3 s of the ~8 s that staging 200k rows took on one
 * thread; on a second core it overlaps with the rest.
 *
 * Records cross in batches (structured clone) of at most BATCH_RECORDS records and BATCH_CHARS
 * characters. The worker keeps at most MAX_IN_FLIGHT batches ahead of the consumer, so memory
 * stays bounded whatever the file size and however long its fields. A parse or read error
 * ends the records (after those the parser delivered before it) and keeps csv-parse's `code`,
 * `lines`, `index` (of the field) and the file's `header` record. Leaving the loop early (the COPY failed) stops the worker.
 */
import { Worker } from 'node:worker_threads';

export const BATCH_RECORDS = 500;
/**
 * A batch also ends once its fields hold this many characters: 500 records of 100,000-character
 * descriptions would otherwise be 50 MB a batch, four in flight and each cloned across threads.
 */
export const BATCH_CHARS = 256 * 1024;
export const MAX_IN_FLIGHT = 4;

/** Worker → main. */
export type RecordsMessage =
  | { readonly type: 'records'; readonly records: string[][]; readonly bytesRead: number }
  | { readonly type: 'error'; readonly code: string | undefined; readonly message: string; readonly lines: number | undefined; readonly index: number | undefined; readonly header: string[] | undefined }
  | { readonly type: 'done'; readonly bytesRead: number };

const WORKER = new URL('./csv-records-worker.js', import.meta.url);

/** Yields every record of `file`; `onBytes` hears how far the worker has read. */
export async function* csvRecords(file: string, onBytes?: (bytesRead: number) => void): AsyncGenerator<string[]> {
  // The parser's strings die young; a small young generation collects them before they add up
  // (on 1,000 descriptions of 99,000 characters, peak RSS 226 → 177-207 MiB, measured).
  const worker = new Worker(WORKER, { workerData: { file }, resourceLimits: { maxYoungGenerationSizeMb: 8 } });
  const queue: RecordsMessage[] = [];
  let failure: unknown;
  let exited = false;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (m: RecordsMessage) => {
    queue.push(m);
    notify();
  });
  worker.on('error', (err) => {
    failure ??= err;
    notify();
  });
  worker.on('exit', (code) => {
    exited = true;
    if (code !== 0) failure ??= new Error(`the CSV parser thread stopped with exit code ${code}`);
    notify();
  });
  try {
    for (;;) {
      const m = queue.shift();
      if (m === undefined) {
        if (failure !== undefined) throw failure;
        if (exited) throw new Error('the CSV parser thread ended before the end of the file');
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (m.type === 'error') throw Object.assign(new Error(m.message), { code: m.code, lines: m.lines, index: m.index, header: m.header });
      onBytes?.(m.bytesRead);
      if (m.type === 'done') return;
      worker.postMessage('next');
      yield* m.records;
    }
  } finally {
    await worker.terminate();
  }
}
