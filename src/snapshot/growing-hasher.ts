/**
 * SHA-256 of pg_dump's data files while pg_dump is still writing them.
 *
 * Hashing a 1.5 GiB archive after the dump took 1.9 s on the benchmark machine, a quarter of the
 * dump itself, and one big table finishes last, so hashing each file once it is complete hides
 * little. Instead every data file (`<dumpId>.dat[.gz]`, written sequentially) is read as it
 * grows; it is done when pg_dump reports the item finished (or exits) and no bytes remain.
 *
 * The hasher also makes the files durable: it flushes each file to disk as it goes (fdatasync
 * every FLUSH_BYTES, fsync at the end), so pg_dump runs with --no-sync instead of flushing the
 * whole archive after the dump (about 13 % of the dump's time on the benchmark machine).
 *
 * With `countRows`, it also counts the rows of every uncompressed data file as it hashes it: in
 * COPY text format every row is one line (newlines in values are escaped as `\n`), and pg_dump
 * ends each file with the end-of-data marker `\.` and two empty lines. A file that does not end
 * so gets no count, and the caller counts that table in the database instead.
 */
import { createHash } from 'node:crypto';
import { chmod, open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { listFiles, mapLimit, sha256File } from '../util/fs.js';
import type { FileEntry } from './manifest.js';

const DATA_FILE = /^\d+\.dat(\.gz)?$/;
const POLL_MS = 50;
/**
 * Flushing in steps spreads the writeback over the dump instead of leaving it all for the end: a
 * file's last fsync, after pg_dump exits, writes at most this much (128 MiB took up to 0.1 s).
 */
const FLUSH_BYTES = 32 * 1024 * 1024;
/** How pg_dump ends every COPY data file: the end-of-data marker and two empty lines. */
const DATA_TRAILER = Buffer.from('\\.\n\n\n');
const NEWLINE = 0x0a;

export class GrowingFileHasher {
  private readonly following = new Map<string, Promise<FileEntry>>();
  private readonly complete = new Set<string>();
  private allComplete = false;
  private scanner: NodeJS.Timeout | undefined;
  private failure: unknown;
  private readonly rows = new Map<string, number | null>();
  private read = 0;
  /** Readers waiting for their file to grow, woken early when a file is complete. */
  private readonly waiting = new Set<() => void>();

  /**
   * @param root       directory the manifest paths are relative to
   * @param sub        subdirectory pg_dump writes into (relative to root)
   * @param countRows  count the rows of uncompressed data files (see rowCounts())
   */
  constructor(
    private readonly root: string,
    private readonly sub: string,
    private readonly countRows = false,
  ) {}

  /**
   * After finish(): rows per dump id, for every uncompressed data file that ended with pg_dump's
   * end-of-data marker (null for one that did not; absent for compressed files).
   */
  rowCounts(): ReadonlyMap<string, number | null> {
    return this.rows;
  }

  /** Bytes of data files read (and hashed) so far: the dump's progress. */
  bytesRead(): number {
    return this.read;
  }

  /** Starts watching for data files. */
  start(): void {
    this.scanner = setInterval(() => void this.scan(), POLL_MS * 2);
  }

  /** pg_dump reported dump item `dumpId` finished: its file is complete. */
  itemFinished(dumpId: string): void {
    this.complete.add(dumpId);
    this.wake();
  }

  /**
   * Call after pg_dump exited successfully: finishes the followed files and hashes the rest
   * (toc.dat and anything not followed) with `parallel` readers. Sorted by path.
   */
  async finish(parallel: number): Promise<FileEntry[]> {
    const followed = await this.settle();
    const done = new Set(followed.map((f) => f.path));
    const rest = (await listFiles(this.root)).filter((rel) => !done.has(rel));
    const hashed = await mapLimit(rest, parallel, async (rel) => {
      const file = path.join(this.root, rel);
      await chmod(file, 0o600);
      const [info, sha256] = await Promise.all([stat(file), sha256File(file), syncFile(file)]);
      return { path: rel, size: info.size, sha256 };
    });
    await syncFile(path.join(this.root, this.sub));
    return [...followed, ...hashed].sort((a, b) => a.path.localeCompare(b.path));
  }

  /**
   * Call after pg_dump exited successfully: waits until every data file is read to its end (and
   * counted). finish() does this too; call it first when the row counts are needed earlier.
   */
  async settle(): Promise<FileEntry[]> {
    clearInterval(this.scanner);
    this.allComplete = true;
    this.wake();
    await this.scan();
    const followed = await Promise.all(this.following.values());
    if (this.failure) throw this.failure;
    return followed;
  }

  /** Stops following (pg_dump failed); resolves once every reader has closed its file. */
  async abandon(): Promise<void> {
    clearInterval(this.scanner);
    this.allComplete = true;
    this.wake();
    await Promise.allSettled(this.following.values());
  }

  private async scan(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(path.join(this.root, this.sub));
    } catch {
      return; // pg_dump has not created the directory yet
    }
    for (const name of names) {
      if (!DATA_FILE.test(name)) continue;
      const rel = `${this.sub}/${name}`;
      if (this.following.has(rel)) continue;
      const entry = this.follow(rel, name.split('.')[0] ?? '');
      entry.catch((err: unknown) => {
        this.failure ??= err;
      });
      this.following.set(rel, entry);
    }
  }

  private async follow(rel: string, dumpId: string): Promise<FileEntry> {
    const file = path.join(this.root, rel);
    const handle = await open(file, 'r');
    try {
      const hash = createHash('sha256');
      const buffer = Buffer.allocUnsafe(1 << 20);
      let position = 0;
      let flushed = 0;
      const counting = this.countRows && rel.endsWith('.dat');
      let lines = 0;
      const tail = Buffer.alloc(DATA_TRAILER.length);
      for (;;) {
        // Read whether or not the file is complete yet; only a read of zero bytes after the
        // completion signal ends the file, so bytes written just before it are never missed.
        const ended = this.allComplete || this.complete.has(dumpId);
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead > 0) {
          const chunk = buffer.subarray(0, bytesRead);
          hash.update(chunk);
          if (counting) {
            for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, i + 1)) lines++;
            keepTail(tail, chunk);
          }
          position += bytesRead;
          this.read += bytesRead;
          if (position - flushed >= FLUSH_BYTES) {
            // fsync on a read-only descriptor flushes the file's dirty pages all the same (Linux).
            await handle.datasync();
            flushed = position;
          }
          continue;
        }
        if (ended) break;
        await this.pause();
      }
      await handle.sync();
      await chmod(file, 0o600);
      if (counting) this.rows.set(dumpId, position >= tail.length && tail.equals(DATA_TRAILER) ? lines - 3 : null);
      return { path: rel, size: position, sha256: hash.digest('hex') };
    } finally {
      await handle.close();
    }
  }

  /** Waits POLL_MS for a file to grow, or less when pg_dump reports a file complete meanwhile. */
  private pause(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiting.delete(done);
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      this.waiting.add(done);
    });
  }

  /** Wakes every waiting reader (a file is complete: its reader should not sleep out its pause). */
  private wake(): void {
    for (const done of [...this.waiting]) done();
  }
}

/** Shifts the last bytes of `chunk` into `tail`, so tail holds the last tail.length bytes seen. */
function keepTail(tail: Buffer, chunk: Buffer): void {
  if (chunk.length >= tail.length) {
    chunk.copy(tail, 0, chunk.length - tail.length);
    return;
  }
  tail.copy(tail, 0, chunk.length);
  chunk.copy(tail, tail.length - chunk.length);
}

/** fsync of a file or directory by path. */
async function syncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
