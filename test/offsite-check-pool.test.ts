/**
 * The offsite download's decrypting and hashing off the main thread (check-pool.ts): the same
 * guarantees as decryptStream — plaintext only once its chunk's tag is checked, a changed byte, a
 * cut-off end or another key refused with VERIFY_FAILED naming the object — whatever sizes the
 * pieces arrive in; and the workers' life: a failure in the middle leaves no session behind, a
 * worker ended in the middle fails its streams and is replaced, and a process that never calls
 * close() still exits.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CheckPool, type CheckStream } from '../src/snapshot/offsite/check-pool.js';
import { CHUNK_BYTES, Decryptor, encryptStream } from '../src/snapshot/offsite/encryption.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A sink that keeps what reaches it in `out`. */
function collect(out: Buffer[]): Writable {
  return new Writable({
    write(c: Buffer, _e, cb) {
      out.push(c);
      cb();
    },
  });
}

async function seal(key: Buffer, plain: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([plain]), encryptStream(key), collect(out));
  return Buffer.concat(out);
}

/** `data` cut into pieces of the sizes given, repeated. */
function pieces(data: Buffer, sizes: readonly number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = sizes[i % sizes.length] as number;
    out.push(data.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** Runs `input` through a check stream; the plaintext that came out, or the error. */
async function run(stream: CheckStream, input: Buffer[]): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(input), stream, collect(out));
  return Buffer.concat(out);
}

const pool = new CheckPool(2);
after(() => pool.close());

describe('offsite check pool', () => {
  const key = randomBytes(32);
  const plain = randomBytes(5 * CHUNK_BYTES + 12_345);
  let sealed: Buffer;

  it('decrypts pieces of any size, from 1 byte to several chunks, to the same plaintext', async () => {
    sealed = await seal(key, plain);
    for (const sizes of [[1, 2, 3, 17, 33, 4096], [65_537], [8 * 1024 * 1024], [CHUNK_BYTES + 33]]) {
      const d = new Decryptor(key, 'x');
      const got = Buffer.concat(pieces(sealed, sizes).flatMap((p) => d.write(p)));
      d.end();
      assert.ok(got.equals(plain), `pieces of ${sizes.join(',')}`);
    }
  });

  it('decrypts and hashes on its workers: the plaintext when kept, the SHA-256 and size either way, plain objects hashed only', async () => {
    const kept = pool.stream(key, 'db/1.dat', { keep: true });
    assert.ok((await run(kept, pieces(sealed, [65_536, 1000]))).equals(plain));
    assert.deepEqual(kept.result, { sha256: sha(plain), bytes: plain.length });
    const checked = pool.stream(key, 'db/1.dat');
    assert.equal((await run(checked, [Buffer.from(sealed)])).length, 0);
    assert.deepEqual(checked.result, { sha256: sha(plain), bytes: plain.length });
    // A buffer of its own moves to the worker (no copy) and is left empty; slices are copied.
    const moved = Buffer.from(sealed);
    const whole = pool.stream(key, 'db/1.dat');
    await run(whole, [moved]);
    assert.equal(whole.result?.sha256, sha(plain));
    assert.equal(moved.buffer.byteLength, 0, 'moved, not copied');
    const bare = pool.stream(null, 'db/2.dat', { keep: true });
    assert.ok((await run(bare, pieces(plain, [70_000]))).equals(plain));
    assert.deepEqual(bare.result, { sha256: sha(plain), bytes: plain.length });
    assert.equal(pool.sessions, 0);
  });

  it('writes the plaintext into the file it is given and closes it before finishing; a failure in the middle closes it too, with only authenticated chunks in it', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'nfr-check-pool-'));
    try {
      const whole = path.join(dir, 'whole.dat');
      const file = await open(whole, 'wx', 0o600);
      const stream = pool.stream(key, 'db/1.dat', { file });
      assert.equal((await run(stream, pieces(sealed, [65_536, 3]))).length, 0);
      assert.deepEqual(stream.result, { sha256: sha(plain), bytes: plain.length });
      assert.equal(file.fd, -1, 'the file moved to the worker');
      assert.ok((await readFile(whole)).equals(plain));
      const plainFile = path.join(dir, 'plain.dat');
      await run(pool.stream(null, 'db/2.dat', { file: await open(plainFile, 'wx') }), pieces(plain, [50_000]));
      assert.ok((await readFile(plainFile)).equals(plain));

      const flipped = Buffer.from(sealed);
      const at = 8 + 3 * (CHUNK_BYTES + 33) + 17 + 9; // chunk 3
      flipped.writeUInt8(flipped.readUInt8(at) ^ 0x01, at);
      const damaged = path.join(dir, 'damaged.dat');
      const before = (await readdir('/proc/self/fd')).length;
      await assert.rejects(run(pool.stream(key, 'db/9.dat', { file: await open(damaged, 'wx') }), pieces(flipped, [65_536])), (err: Error & { code?: string }) => err.code === 'VERIFY_FAILED' && /^db\/9\.dat: chunk 3 failed authentication/.test(err.message));
      const written = await readFile(damaged);
      assert.ok(written.length <= 3 * CHUNK_BYTES && written.equals(plain.subarray(0, written.length)), 'only authenticated chunks were written');
      assert.equal((await readdir('/proc/self/fd')).length, before, 'the worker closed the file');
      assert.equal(pool.sessions, 0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a flipped byte in the middle fails with VERIFY_FAILED naming the object and chunk, releases nothing of that chunk, and leaves no session', async () => {
    const flipped = Buffer.from(sealed);
    const third = 8 + 2 * (CHUNK_BYTES + 33) + 17 + 500; // inside chunk 2's ciphertext
    flipped.writeUInt8(flipped.readUInt8(third) ^ 0x10, third);
    const out: Buffer[] = [];
    const stream = pool.stream(key, 'db/3.dat', { keep: true });
    await assert.rejects(
      pipeline(Readable.from(pieces(flipped, [65_536])), stream, collect(out)),
      (err: Error & { code?: string }) => err.code === 'VERIFY_FAILED' && /^db\/3\.dat: chunk 2 failed authentication/.test(err.message),
    );
    assert.ok(Buffer.concat(out).length <= 2 * CHUNK_BYTES, 'nothing of the damaged chunk came out');
    assert.ok(Buffer.concat(out).equals(plain.subarray(0, Buffer.concat(out).length)));
    for (const [what, data, k, pattern] of [
      ['cut off', sealed.subarray(0, 8 + 3 * (CHUNK_BYTES + 33)), key, /truncated/],
      ['another key', sealed, randomBytes(32), /chunk 0 failed authentication/],
      ['data after the end', Buffer.concat([sealed, Buffer.from('x')]), key, /data after the final chunk/],
    ] as const) {
      await assert.rejects(run(pool.stream(k, 'db/4.dat'), pieces(data, [100_000])), (err: Error & { code?: string }) => err.code === 'VERIFY_FAILED' && pattern.test(err.message), what);
    }
    assert.equal(pool.sessions, 0);
    // The workers still serve the next object.
    const again = pool.stream(key, 'db/5.dat');
    await run(again, [Buffer.from(sealed)]);
    assert.equal(again.result?.sha256, sha(plain));
  });

  it('a stream destroyed in the middle (another file failed) drops its session', async () => {
    const stream = pool.stream(key, 'db/6.dat', { keep: true });
    let failed: Error | undefined;
    stream.on('error', (err) => (failed = err));
    stream.write(sealed.subarray(0, 3 * CHUNK_BYTES));
    assert.ok(pool.sessions >= 1);
    stream.destroy(new Error('stopped'));
    await new Promise((resolve) => stream.once('close', resolve));
    assert.equal(failed?.message, 'stopped');
    assert.equal(pool.sessions, 0);
  });

  it('workers ended in the middle fail their streams, and new ones start for the next object', async () => {
    const own = new CheckPool(1);
    const source = new Readable({ read() {} });
    source.push(sealed.subarray(0, 2 * CHUNK_BYTES));
    const out = run(own.stream(key, 'db/7.dat', { keep: true }), []).catch(() => {}); // a warm-up: the worker is up
    await out;
    const stream = own.stream(key, 'db/7.dat', { keep: true });
    const running = pipeline(source, stream, new Writable({ write: (_c, _e, cb) => cb() }));
    await new Promise((resolve) => setImmediate(resolve));
    await own.close();
    assert.equal(own.workers, 0);
    await assert.rejects(running, (err: Error & { code?: string }) => err.code === 'INTERNAL' && /worker exited/.test(err.message));
    assert.equal(own.sessions, 0);
    const next = own.stream(key, 'db/8.dat');
    await run(next, [Buffer.from(sealed)]);
    assert.equal(next.result?.sha256, sha(plain));
    await own.close();
  });

  it('a process that checks objects and never calls close() still exits', async () => {
    const module = fileURLToPath(new URL('../src/snapshot/offsite/check-pool.js', import.meta.url));
    const script = `
      import { CheckPool } from ${JSON.stringify(module)};
      import { Readable, Writable } from 'node:stream';
      import { pipeline } from 'node:stream/promises';
      const s = new CheckPool(2).stream(null, 'x', { keep: true });
      await pipeline(Readable.from([Buffer.alloc(3 << 20, 7)]), s, new Writable({ write: (_c, _e, cb) => cb() }));
      console.log(s.result.bytes);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c));
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error('the process did not exit within 20 s: a worker kept it alive'));
      }, 20_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    assert.equal(code, 0);
    assert.equal(stdout.trim(), String(3 << 20));
  });
});
