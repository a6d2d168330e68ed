/**
 * Bulk loading with COPY ... FROM STDIN (text format), streamed: rows are encoded as they come
 * and written with backpressure, never collected in memory.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { escapeIdentifier } from './connection.js';

export type CopyValue = string | number | boolean | null | undefined | Date | readonly string[];

/** One value in COPY text format: \N for null, backslash escapes for the special characters. */
export function encodeCopyValue(value: CopyValue): string {
  if (value === null || value === undefined) return '\\N';
  if (typeof value === 'boolean') return value ? 't' : 'f';
  if (typeof value === 'number') return String(value);
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return escapeCopyText(encodeArrayLiteral(value as readonly string[]));
  return escapeCopyText(value as string);
}

const COPY_SPECIAL = /[\\\n\r\t]/;

function escapeCopyText(s: string): string {
  // Most values need no escaping; testing first skips building a copy of each.
  if (!COPY_SPECIAL.test(s)) return s;
  return s.replace(/[\\\n\r\t]/g, (c) => (c === '\\' ? '\\\\' : c === '\n' ? '\\n' : c === '\r' ? '\\r' : '\\t'));
}

/** A PostgreSQL array literal of text: {"a","b \"quoted\""}. */
function encodeArrayLiteral(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}

/** Streams rows into `table (columns)` with COPY; returns the number of rows copied. */
export async function copyRows(client: pg.ClientBase, table: string, columns: readonly string[], rows: AsyncIterable<readonly CopyValue[]> | Iterable<readonly CopyValue[]>): Promise<number> {
  const sql = `copy ${table.split('.').map(escapeIdentifier).join('.')} (${columns.map(escapeIdentifier).join(', ')}) from stdin`;
  const sink = client.query(copyFrom(sql));
  let count = 0;
  async function* lines(): AsyncGenerator<string> {
    let batch = '';
    for await (const row of rows) {
      if (row.length !== columns.length) throw new Error(`copy into ${table}: row has ${row.length} values for ${columns.length} columns`);
      batch += row.map(encodeCopyValue).join('\t') + '\n';
      count++;
      if (batch.length >= 1 << 16) {
        yield batch;
        batch = '';
      }
    }
    if (batch) yield batch;
  }
  await pipeline(Readable.from(lines()), sink);
  return count;
}
