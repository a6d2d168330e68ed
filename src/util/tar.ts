/**
 * A small streaming tar reader: extracts the entries a caller picks from a tar stream (ustar,
 * GNU long names, pax headers), chunk by chunk, without holding a file in memory. The caller
 * names each picked entry's destination, so no path inside the archive decides where we write.
 */
import { closeSync, mkdirSync, openSync, symlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { NfrError } from '../errors.js';

const BLOCK = 512;

export interface TarEntry {
  /** Path inside the archive, e.g. `postgresql-18.0.0/bin/pg_dump`. */
  readonly name: string;
  readonly kind: 'file' | 'directory' | 'symlink' | 'other';
  readonly size: number;
  readonly mode: number;
  /** A symlink's target, as written in the archive. */
  readonly linkName: string;
}

/**
 * Reads `source` (an uncompressed tar stream) up to its end-of-archive blocks and writes each
 * entry for which `pick` returns a path (relative to `into`; files and symlinks only). Returns the
 * picked entries' destinations. Throws INVALID_INPUT on a damaged or truncated archive.
 */
export async function extractTar(source: AsyncIterable<Buffer>, into: string, pick: (entry: TarEntry) => string | undefined, what: string): Promise<string[]> {
  const written: string[] = [];
  let carry = Buffer.alloc(0);
  let body: { remaining: number; padding: number; fd?: number; meta?: Buffer[] } | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  let pax: Record<string, string> = {};
  let sawEnd = false;
  let bodyKind = '';

  const finishBody = (meta: Buffer[] | undefined, kind: string): void => {
    if (!meta) return;
    const text = Buffer.concat(meta);
    if (kind === 'L') longName = cString(text);
    else if (kind === 'K') longLink = cString(text);
    else if (kind === 'x') pax = parsePax(text, what);
  };

  try {
    outer: for await (const chunk of source) {
      const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      let pos = 0;
      for (;;) {
        if (body && body.remaining > 0) {
          const n = Math.min(body.remaining, buf.length - pos);
          if (body.fd !== undefined) writeAll(body.fd, buf.subarray(pos, pos + n));
          else body.meta?.push(Buffer.from(buf.subarray(pos, pos + n)));
          pos += n;
          body.remaining -= n;
          if (body.remaining > 0) break;
          if (body.fd !== undefined) closeSync(body.fd);
          body.fd = undefined;
          finishBody(body.meta, bodyKind);
        }
        if (body && body.padding > 0) {
          const n = Math.min(body.padding, buf.length - pos);
          pos += n;
          body.padding -= n;
          if (body.padding > 0) break;
        }
        body = undefined;
        if (buf.length - pos < BLOCK) break;
        const header = buf.subarray(pos, pos + BLOCK);
        pos += BLOCK;
        if (header.every((b) => b === 0)) {
          // The first of the two zero blocks that end an archive: nothing of interest follows.
          sawEnd = true;
          break outer;
        }
        checkChecksum(header, what);
        const type = String.fromCharCode(header[156] ?? 0);
        const ustar = header.subarray(257, 263).toString('latin1') === 'ustar\0';
        const prefix = ustar ? cString(header.subarray(345, 500)) : '';
        const headerName = cString(header.subarray(0, 100));
        const size = pax.size !== undefined ? Number(pax.size) : octal(header.subarray(124, 136), 'size', what);
        const padding = (BLOCK - (size % BLOCK)) % BLOCK;
        bodyKind = type;
        if (type === 'L' || type === 'K' || type === 'x' || type === 'g') {
          // Metadata for the next entry (or, 'g', for all; nothing we use): kept in memory, small.
          if (size > 1 << 20) throw damaged(what, `a ${size}-byte metadata entry`);
          body = { remaining: size, padding, meta: type === 'g' ? undefined : [] };
          if (size === 0) finishBody(body.meta, type);
          continue;
        }
        const entry: TarEntry = {
          name: pax.path ?? longName ?? (prefix ? `${prefix}/${headerName}` : headerName),
          kind: type === '0' || type === '\0' || type === '7' ? 'file' : type === '5' ? 'directory' : type === '2' ? 'symlink' : 'other',
          size,
          mode: octal(header.subarray(100, 108), 'mode', what),
          linkName: pax.linkpath ?? longLink ?? cString(header.subarray(157, 257)),
        };
        longName = undefined;
        longLink = undefined;
        pax = {};
        const dest = entry.kind === 'file' || entry.kind === 'symlink' ? pick(entry) : undefined;
        let fd: number | undefined;
        if (dest !== undefined) {
          const file = path.join(into, dest);
          mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
          if (entry.kind === 'symlink') symlinkSync(entry.linkName, file);
          else fd = openSync(file, 'wx', entry.mode & 0o777);
          written.push(dest);
        }
        if (fd !== undefined && size === 0) {
          closeSync(fd);
          fd = undefined;
        }
        body = { remaining: entry.kind === 'file' ? size : 0, padding: entry.kind === 'file' ? padding : 0, ...(fd === undefined ? {} : { fd }) };
      }
      carry = Buffer.from(buf.subarray(pos));
    }
  } finally {
    if (body?.fd !== undefined) closeSync(body.fd);
  }
  if (!sawEnd) throw damaged(what, 'it ends before its end-of-archive blocks (truncated)');
  return written;
}

function writeAll(fd: number, data: Buffer): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

function cString(b: Buffer): string {
  const end = b.indexOf(0);
  return b.subarray(0, end === -1 ? b.length : end).toString('utf8');
}

function octal(field: Buffer, name: string, what: string): number {
  // GNU base-256 for values beyond the octal field's reach.
  if ((field[0] ?? 0) & 0x80) {
    let n = (field[0] ?? 0) & 0x7f;
    for (const b of field.subarray(1)) n = n * 256 + b;
    return n;
  }
  const text = cString(field).trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw damaged(what, `a header whose ${name} field reads "${text}"`);
  return Number.parseInt(text, 8);
}

function checkChecksum(header: Buffer, what: string): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (header[i] ?? 0);
  const stored = octal(header.subarray(148, 156), 'checksum', what);
  if (stored !== sum) throw damaged(what, `a header whose checksum is ${stored}, computed ${sum}`);
}

/** pax extended header records: `<length> <key>=<value>\n`. */
function parsePax(text: Buffer, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < text.length) {
    const space = text.indexOf(0x20, pos);
    const len = Number(text.subarray(pos, space).toString('latin1'));
    if (space === -1 || !Number.isInteger(len) || len <= 0) throw damaged(what, 'a malformed pax header');
    const record = text.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out[record.slice(0, eq)] = record.slice(eq + 1);
    pos += len;
  }
  return out;
}

function damaged(what: string, why: string): NfrError {
  return new NfrError('INVALID_INPUT', `${what} is not a readable tar archive: ${why}`);
}
