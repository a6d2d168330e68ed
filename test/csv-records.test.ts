/** CSV records from the parser thread. */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { BATCH_RECORDS, csvRecords } from '../src/ingest/csv-records.js';

describe('CSV records from the parser thread', () => {
  const dirs: string[] = [];
  after(async () => {
    const { rm } = await import('node:fs/promises');
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const write = async (name: string, content: string | Buffer) => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/nfr-csv-`);
    dirs.push(dir);
    await writeFile(`${dir}/${name}`, content);
    return `${dir}/${name}`;
  };
  const all = async (file: string) => {
    const out: string[][] = [];
    for await (const r of csvRecords(file)) out.push(r);
    return out;
  };

  it('yields every record in order, across batches, with BOM, CRLF and quoted newlines', async () => {
    const rows = Array.from({ length: BATCH_RECORDS * 3 + 7 }, (_, i) => `C-${i},"line one\r\nline ""two"", three"`);
    const file = await write('ok.csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(['control_id,title', ...rows].join('\r\n') + '\r\n')]));
    const records = await all(file);
    assert.equal(records.length, rows.length + 1);
    assert.deepEqual(records[0], ['control_id', 'title']);
    assert.deepEqual(records[1], ['C-0', 'line one\r\nline "two", three']);
    assert.deepEqual(records.at(-1)?.[0], `C-${rows.length - 1}`);
  });

  it('ends with a syntax error that names its line, after the records the parser delivered before it', async () => {
    const good = Array.from({ length: BATCH_RECORDS + 3 }, (_, i) => `C-${i},ok`);
    const file = await write('bad.csv', ['control_id,title', ...good, 'C-X,"x"y', 'C-Y,never'].join('\n') + '\n');
    const seen: string[][] = [];
    await assert.rejects(
      async () => {
        for await (const r of csvRecords(file)) seen.push(r);
      },
      (err: { code?: string; lines?: number }) => err.code === 'CSV_INVALID_CLOSING_QUOTE' && err.lines === good.length + 2,
    );
    // csv-parse fails a chunk as a whole, so how many records came first depends on its chunking;
    // those that came are the file's first ones, in order.
    assert.ok(seen.length <= good.length + 1);
    seen.slice(1).forEach((r, i) => {
      assert.equal(r[0], `C-${i}`);
    });
  });

  it('reports a file that cannot be read, and stops the thread when the consumer stops early', async () => {
    await assert.rejects(all('/nonexistent/nfr.csv'), (err: { code?: string }) => err.code === 'ENOENT');
    const file = await write('big.csv', ['control_id,title', ...Array.from({ length: BATCH_RECORDS * 20 }, (_, i) => `C-${i},t`)].join('\n'));
    let n = 0;
    for await (const _ of csvRecords(file)) if (++n === 3) break;
    assert.equal(n, 3); // a thread left running would keep this test process alive past the suite
  });
});
