/**
 * Streams a text file to a temporary name and renames it into place when complete, so a killed
 * run never leaves a truncated file under the final name (the ingesters would load half of it).
 */
import { type FileHandle, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../util/fs.js';
import { processAlive } from '../util/process.js';

/** One file a sample command wrote. */
export interface SampleFile {
  /** Path relative to the output directory, with '/' separators. */
  readonly path: string;
  /** JSONL lines, or CSV data rows (the header not counted). */
  readonly rows: number;
  readonly bytes: number;
}

/** Writes are batched to this size: large enough to be fast, small enough to keep memory flat. */
const FLUSH_AT = 256 * 1024;

/**
 * An open output file. `write` buffers and flushes with backpressure (each flush awaits the disk),
 * `commit` makes it visible under its final name, `abort` removes the temporary file.
 */
export class AtomicTextFile {
  private chunks: string[] = [];
  private buffered = 0;
  private rowCount = 0;
  private byteCount = 0;

  private constructor(
    private readonly handle: FileHandle,
    private readonly tmp: string,
    private readonly file: string,
    private readonly relative: string,
  ) {}

  /** Opens `outDir/relative` for writing (creating its directories); sample data is not secret, hence 0644. */
  static async open(outDir: string, relative: string): Promise<AtomicTextFile> {
    const file = path.join(outDir, ...relative.split('/'));
    await mkdir(path.dirname(file), { recursive: true });
    await removeStaleTemporaries(file);
    const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
    const handle = await open(tmp, 'w', 0o644);
    return new AtomicTextFile(handle, tmp, file, relative);
  }

  /** Appends text holding `rows` records; resolves once the buffer is below the flush size. */
  async write(text: string, rows = 1): Promise<void> {
    this.chunks.push(text);
    this.buffered += text.length;
    this.rowCount += rows;
    if (this.buffered >= FLUSH_AT) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.chunks.length === 0) return;
    const data = Buffer.from(this.chunks.join(''), 'utf8');
    this.chunks = [];
    this.buffered = 0;
    let offset = 0;
    while (offset < data.length) {
      const { bytesWritten } = await this.handle.write(data, offset, data.length - offset);
      offset += bytesWritten;
    }
    this.byteCount += data.length;
  }

  /** Flushes, syncs and renames the file into place. */
  async commit(): Promise<SampleFile> {
    try {
      await this.flush();
      await this.handle.sync();
    } catch (err) {
      await this.abort();
      throw err;
    }
    await this.handle.close();
    await rename(this.tmp, this.file);
    await fsyncDir(path.dirname(this.file));
    return { path: this.relative, rows: this.rowCount, bytes: this.byteCount };
  }

  /** Drops the temporary file; safe to call after a failed write. */
  async abort(): Promise<void> {
    await this.handle.close().catch(() => {});
    await rm(this.tmp, { force: true });
  }
}

/** Removes what killed runs left: temporaries of this file whose writer process is gone. */
async function removeStaleTemporaries(file: string): Promise<void> {
  const dir = path.dirname(file);
  const prefix = `.${path.basename(file)}.`;
  for (const name of await readdir(dir)) {
    const m = name.startsWith(prefix) ? /^(\d+)\.tmp$/.exec(name.slice(prefix.length)) : null;
    if (m && !processAlive(Number(m[1]))) await rm(path.join(dir, name), { force: true });
  }
}


/** Opens a file, runs fn to fill it, commits it; removes the temporary file if fn fails. */
export async function writeAtomically(outDir: string, relative: string, fn: (out: AtomicTextFile) => Promise<void>): Promise<SampleFile> {
  const out = await AtomicTextFile.open(outDir, relative);
  try {
    await fn(out);
  } catch (err) {
    await out.abort();
    throw err;
  }
  return out.commit();
}

/** Writes records as JSON Lines, one object per line. */
export function writeJsonl(outDir: string, relative: string, records: Iterable<unknown>): Promise<SampleFile> {
  return writeAtomically(outDir, relative, async (out) => {
    for (const r of records) await out.write(JSON.stringify(r) + '\n');
  });
}
