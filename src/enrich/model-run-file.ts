/**
 * The JSONL record of one model's outputs in one run:
 * DATA_INGESTED_PATH/model_runs/<model>/<UPLOAD-ID>.jsonl. Lines are streamed to a hidden temp
 * file next to the target (owner-only), which is fsynced and renamed into place only when the
 * run commits, so readers never see a torn or half-written file.
 */
import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { diskFull } from '../errors.js';
import { ensureDir, fsyncDir } from '../util/fs.js';
import { processAlive } from '../util/process.js';

const TEMP_SUFFIX = '.partial';

export class ModelRunFile {
  readonly path: string;
  readonly #temp: string;
  #stream: WriteStream | undefined;
  #error: Error | undefined;
  #lines = 0;

  private constructor(file: string) {
    this.path = file;
    this.#temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}${TEMP_SUFFIX}`);
  }

  /** Prepares `<root>/<model>/<uploadId>.jsonl`; nothing is created until the first line. */
  static async create(root: string, model: string, uploadId: string): Promise<ModelRunFile> {
    const dir = path.join(root, model);
    await ensureDir(dir);
    await removeStaleTemps(dir);
    return new ModelRunFile(path.join(dir, `${uploadId}.jsonl`));
  }

  get lines(): number {
    return this.#lines;
  }

  /** Appends one JSON line, waiting when the stream's buffer is full. */
  async write(record: unknown): Promise<void> {
    if (this.#stream === undefined) {
      this.#stream = createWriteStream(this.#temp, { flags: 'w', mode: 0o600 });
      // Without a listener a write error (disk full) would crash the process; keep it for the run.
      // A write error has no path of its own: say which model run's file could not be written.
      this.#stream.on('error', (err) => {
        this.#error = diskFull(err, this.path) ?? err;
      });
    }
    if (this.#error) throw this.#error;
    this.#lines++;
    if (!this.#stream.write(`${JSON.stringify(record)}\n`)) {
      await once(this.#stream, 'drain').catch((err: unknown) => {
        throw diskFull(err, this.path) ?? err;
      });
    }
  }

  /** Flushes and fsyncs the temp file (before the database commits). No-op without lines. */
  async flush(): Promise<void> {
    const stream = this.#stream;
    if (stream === undefined) return;
    if (this.#error) throw this.#error;
    if (!stream.writableFinished) {
      stream.end();
      await once(stream, 'finish').catch((err: unknown) => {
        throw diskFull(err, this.path) ?? err;
      });
    }
    const handle = await open(this.#temp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Renames the flushed temp file into place; returns false when there was nothing to write. */
  async publish(): Promise<boolean> {
    if (this.#stream === undefined) return false;
    await rename(this.#temp, this.path);
    await fsyncDir(path.dirname(this.path));
    return true;
  }

  /** Drops the temp file (the run failed). */
  async discard(): Promise<void> {
    this.#stream?.destroy();
    await rm(this.#temp, { force: true });
  }
}

/** Temp files of runs that were killed before they published. */
async function removeStaleTemps(dir: string): Promise<void> {
  for (const name of await readdir(dir)) {
    const pid = /^\..*\.(\d+)\.partial$/.exec(name)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) await rm(path.join(dir, name), { force: true });
  }
}

