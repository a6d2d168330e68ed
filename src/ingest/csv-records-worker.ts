/**
 * The worker side of csv-records.ts: reads the file, parses it with the controls CSV options, and
 * posts the records in batches, never more than MAX_IN_FLIGHT ahead of the consumer.
 */
import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { parse } from 'csv-parse';
import { CONTROLS_CSV_OPTIONS } from './csv-options.js';
import { BATCH_CHARS, BATCH_RECORDS, MAX_IN_FLIGHT, type RecordsMessage } from './csv-records.js';

const port = parentPort;
if (!port) throw new Error('csv-records-worker runs as a worker thread');
const { file } = workerData as { file: string };

let inFlight = 0;
let resume: (() => void) | undefined;
port.on('message', () => {
  inFlight--;
  const r = resume;
  resume = undefined;
  r?.();
});

const post = (m: RecordsMessage) => port.postMessage(m);
const source = createReadStream(file, { highWaterMark: 1 << 20 });
const parser = parse(CONTROLS_CSV_OPTIONS);
source.on('error', (err) => parser.destroy(err));
source.pipe(parser);

try {
  let batch: string[][] = [];
  let chars = 0;
  for await (const record of parser as AsyncIterable<string[]>) {
    batch.push(record);
    for (const field of record) chars += field.length;
    if (batch.length < BATCH_RECORDS && chars < BATCH_CHARS) continue;
    post({ type: 'records', records: batch, bytesRead: source.bytesRead });
    batch = [];
    chars = 0;
    inFlight++;
    while (inFlight >= MAX_IN_FLIGHT) await new Promise<void>((r) => (resume = r));
  }
  if (batch.length > 0) post({ type: 'records', records: batch, bytesRead: source.bytesRead });
  post({ type: 'done', bytesRead: source.bytesRead });
} catch (err) {
  const e = err as { code?: unknown; message?: unknown; lines?: unknown };
  post({ type: 'error', code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? err), lines: typeof e.lines === 'number' ? e.lines : undefined });
} finally {
  source.destroy();
}
