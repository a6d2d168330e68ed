/**
 * Streaming JSON Lines reader: yields one record per non-blank line with its 1-based line number,
 * never holding more than one line in memory. Lines are split on LF (a trailing CR is dropped, so
 * CRLF files work), a UTF-8 BOM at the start is ignored, and a line that is not valid UTF-8 or is
 * longer than `maxLineBytes` is reported as a bad line instead of being decoded with replacement
 * characters or buffered without bound.
 */
import { createReadStream } from 'node:fs';

export type JsonLine =
  | { readonly kind: 'value'; readonly line: number; readonly value: unknown }
  | { readonly kind: 'bad'; readonly line: number; readonly message: string };

export interface JsonLinesOptions {
  /** Longest accepted line in bytes; longer lines are reported and skipped. Default 1 MiB. */
  readonly maxLineBytes?: number;
}

const LF = 0x0a;
const CR = 0x0d;

/** Reads `file` line by line; blank lines are skipped (they still count for line numbers). */
export async function* readJsonLines(file: string, options: JsonLinesOptions = {}): AsyncGenerator<JsonLine> {
  const max = options.maxLineBytes ?? 1 << 20;
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  let line = 0;

  const finish = (): JsonLine | undefined => {
    line++;
    if (tooLong) return { kind: 'bad', line, message: `line is longer than ${max} bytes` };
    let buf = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, size);
    if (buf.length > 0 && buf[buf.length - 1] === CR) buf = buf.subarray(0, buf.length - 1);
    let text: string;
    try {
      // With ignoreBOM false each decode strips a leading BOM, so a UTF-8 BOM never reaches JSON.parse.
      text = decoder.decode(buf);
    } catch {
      return { kind: 'bad', line, message: 'line is not valid UTF-8' };
    }
    if (text.trim() === '') return undefined;
    try {
      return { kind: 'value', line, value: JSON.parse(text) as unknown };
    } catch (err) {
      return { kind: 'bad', line, message: `invalid JSON: ${(err as Error).message}` };
    }
  };

  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) {
    let start = 0;
    for (let nl = chunk.indexOf(LF, start); nl !== -1; nl = chunk.indexOf(LF, start)) {
      append(chunk.subarray(start, nl));
      const record = finish();
      parts = [];
      size = 0;
      tooLong = false;
      if (record) yield record;
      start = nl + 1;
    }
    append(chunk.subarray(start));
  }
  if (size > 0 || tooLong) {
    const record = finish();
    if (record) yield record;
  }

  function append(piece: Buffer): void {
    if (piece.length === 0 || tooLong) return;
    if (size + piece.length > max) {
      tooLong = true;
      parts = [];
      size = 0;
      return;
    }
    parts.push(piece);
    size += piece.length;
  }
}
