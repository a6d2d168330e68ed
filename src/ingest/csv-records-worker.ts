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
// The header as the parser read it: a parse error discards the records of its chunk that were
// not yet read, the header among them when the error is near the top, and the consumer needs it
// to name the column of the error.
let header: string[] | undefined;
const parser = parse({
  ...CONTROLS_CSV_OPTIONS,
  on_record: (record: string[]) => {
    header ??= record;
    return record;
  },
});
source.on('error', (err) => parser.destroy(err));
source.pipe(parser);

let batch: string[][] = [];
try {
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
  // The records before the bad one first: the consumer needs the header to name the column.
  if (batch.length > 0) post({ type: 'records', records: batch, bytesRead: source.bytesRead });
  const e = err as { code?: unknown; message?: unknown; lines?: unknown; index?: unknown };
  const number = (v: unknown) => (typeof v === 'number' ? v : undefined);
  post({ type: 'error', code: typeof e.code === 'string' ? e.code : undefined, message: String(e.message ?? err), lines: number(e.lines), index: number(e.index), header });
} finally {
  source.destroy();
}
