/**
 * What an uploaded controls file must look like before it is stored and a job is started for it:
 * not empty, text rather than binary, and a first record that is a controls header. A file that
 * fails is refused at upload time with a 4xx and the reason, instead of a 202 whose job fails
 * later. The header is checked by the same parser and the same rules as ingestion.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { NfrError } from '../errors.js';
import { controlsCsvParser, csvSyntaxError, parseHeader } from './controls-csv.js';

/** How much of the file is looked at for NUL bytes. */
const SNIFF_BYTES = 64 * 1024;

/** Throws INVALID_INPUT (empty, no header, bad header) or UNSUPPORTED_MEDIA_TYPE (binary). */
export async function checkControlsUpload(file: string, name: string): Promise<void> {
  const head = await firstBytes(file, SNIFF_BYTES);
  if (head.length === 0) {
    throw new NfrError('INVALID_INPUT', `${name} is empty (0 bytes): upload a controls CSV with a header row (control_id, title, ...) and one row per control; nothing was stored`);
  }
  await refuseBinary(file, name);
  const header = await firstRecord(file, name);
  if (header === undefined) {
    throw new NfrError('INVALID_INPUT', `${name} line 1: no complete header record (a quote opened in the header is never closed?); nothing was stored`);
  }
  try {
    parseHeader(header, name);
  } catch (err) {
    if (err instanceof NfrError) throw new NfrError(err.code, `${err.message}; nothing was stored`, { cause: err, details: err.details ? { ...err.details } : undefined });
    throw err;
  }
}

/**
 * Throws UNSUPPORTED_MEDIA_TYPE when `file` is binary (or UTF-16 text), not a controls CSV: the
 * start of it holds a NUL byte, on line 1 or with a first record that is no controls header. A CSV with a good
 * header and a NUL inside a field is text with a bad row, which ingestion reports by line and
 * field. The API's upload check and `nfr ingest controls` both ask.
 */
export async function refuseBinary(file: string, name: string): Promise<void> {
  const head = await firstBytes(file, SNIFF_BYTES);
  const nul = head.indexOf(0);
  if (nul === -1) return;
  // A NUL on line 1 is never text of a header (UTF-16 puts one after every ASCII character).
  const eol = head.indexOf(0x0a);
  if (eol !== -1 && nul > eol && (await hasControlsHeader(file, name))) return;
  throw new NfrError(
    'UNSUPPORTED_MEDIA_TYPE',
    `${name} is not a text CSV: byte ${nul + 1} is a NUL byte (a binary file, or text in UTF-16?); save the controls as UTF-8 CSV; nothing was stored`,
  );
}

async function hasControlsHeader(file: string, name: string): Promise<boolean> {
  try {
    const header = await firstRecord(file, name);
    if (header === undefined) return false;
    parseHeader(header, name);
    return true;
  } catch {
    return false;
  }
}

async function firstBytes(file: string, n: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(n);
    const { bytesRead } = await handle.read(buffer, 0, n, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The fields of the file's first record, or undefined when line 1 holds no complete record. */
async function firstRecord(file: string, name: string): Promise<string[] | undefined> {
  // to_line: the parser ends after line 1, so what follows the header is neither read nor judged
  // here; the rest of the file is left unread (pipeline() would call that a premature close).
  const source = createReadStream(file, { highWaterMark: SNIFF_BYTES });
  const parser = controlsCsvParser({ to_line: 1 });
  source.once('error', (err) => parser.destroy(err));
  source.pipe(parser);
  let first: string[] | undefined;
  try {
    for await (const record of parser as AsyncIterable<string[]>) first ??= record;
  } catch (err) {
    throw csvSyntaxError(err, name, 'CSV header', 'nothing was stored') ?? err;
  } finally {
    source.destroy();
  }
  return first;
}
