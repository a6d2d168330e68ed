/**
 * The file format of one generation of the embedded index, and streamed readers for it:
 *
 *   meta.json      {format, model, dimension, distance, points, generation, source_signature, written_at}
 *   vectors.f32    `points` rows of `dimension` little-endian float32, nothing else
 *   points.jsonl   one PointPayload per line, in the same row order
 *
 * Rows are only ever read front to back in chunks, so memory stays bounded whatever the size.
 */
import { createReadStream } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { z } from 'zod';
import { NfrError } from '../errors.js';
import { pointPayloadSchema } from './shapes.js';
import type { PointPayload } from './types.js';

export const FORMAT_VERSION = 1;
export const META_FILE = 'meta.json';
export const VECTORS_FILE = 'vectors.f32';
export const POINTS_FILE = 'points.jsonl';
/** Rows read per chunk: 4096 rows of 1536 dimensions is 24 MiB, of 384 dimensions 6 MiB. */
const CHUNK_ROWS = 4096;

const metaSchema = z.object({
  format: z.literal(FORMAT_VERSION),
  model: z.string().min(1),
  dimension: z.number().int().positive(),
  distance: z.enum(['Cosine', 'Dot', 'Euclid']),
  points: z.number().int().nonnegative(),
  generation: z.number().int().positive(),
  source_signature: z.string().nullable(),
  written_at: z.string(),
});
export type GenerationMeta = z.infer<typeof metaSchema>;


export async function readMeta(dir: string): Promise<GenerationMeta> {
  const file = path.join(dir, META_FILE);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw err;
    throw new NfrError('VERIFY_FAILED', `${file}: damaged (${(err as Error).message}); rebuild the index with \`nfr index --force\``);
  }
  const parsed = metaSchema.safeParse(json);
  if (!parsed.success) throw new NfrError('VERIFY_FAILED', `${file}: not an nfr index generation (${parsed.error.issues[0]?.message}); rebuild it with \`nfr index --force\``);
  return parsed.data;
}

export function parsePayload(line: string, file: string, row: number): PointPayload {
  try {
    return pointPayloadSchema.parse(JSON.parse(line));
  } catch (err) {
    throw new NfrError('VERIFY_FAILED', `${file} line ${row + 1}: damaged point (${(err as Error).message.slice(0, 200)}); rebuild with \`nfr index --force\``);
  }
}

/** The two row files of a generation (or of a writer's staged rows). */
export interface RowFiles {
  readonly vectors: string;
  readonly points: string;
}

export function generationFiles(dir: string): RowFiles {
  return { vectors: path.join(dir, VECTORS_FILE), points: path.join(dir, POINTS_FILE) };
}

/** Payload lines, in row order. */
export async function* payloadLines(file: string): AsyncGenerator<string> {
  const rl = createInterface({ input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity });
  try {
    for await (const line of rl) if (line !== '') yield line;
  } finally {
    rl.close();
  }
}

/**
 * Vector chunks: `rows` rows starting at row `first`. The array is a view of one buffer that is
 * refilled for the next chunk: consumers copy what they keep (RowAppender does).
 */
export async function* vectorChunks(file: string, dimension: number, chunkRows = CHUNK_ROWS): AsyncGenerator<{ first: number; rows: number; data: Float32Array }> {
  const handle = await open(file, 'r');
  try {
    const rowBytes = dimension * 4;
    const size = (await handle.stat()).size;
    if (size % rowBytes !== 0) throw new NfrError('VERIFY_FAILED', `${file}: ${size} bytes is not a whole number of ${dimension}-dimension rows; rebuild with \`nfr index --force\``);
    // Own ArrayBuffer (not Buffer's shared pool), so the Float32Array view is 4-byte aligned.
    const memory = new ArrayBuffer(chunkRows * rowBytes);
    const buffer = Buffer.from(memory);
    let first = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, first * rowBytes);
      if (bytesRead === 0) return;
      const rows = Math.floor(bytesRead / rowBytes);
      yield { first, rows, data: new Float32Array(memory, 0, rows * dimension) };
      first += rows;
    }
  } finally {
    await handle.close();
  }
}

/** Rows: payload line and vector together, in order. */
export async function* rows(files: RowFiles, dimension: number): AsyncGenerator<{ line: string; vector: Float32Array }> {
  const lines = payloadLines(files.points)[Symbol.asyncIterator]();
  try {
    for await (const chunk of vectorChunks(files.vectors, dimension)) {
      for (let i = 0; i < chunk.rows; i++) {
        const next = await lines.next();
        if (next.done) throw new NfrError('VERIFY_FAILED', `${files.points} has fewer lines than ${files.vectors} has rows; rebuild with \`nfr index --force\``);
        yield { line: next.value, vector: chunk.data.subarray(i * dimension, (i + 1) * dimension) };
      }
    }
    if (!(await lines.next()).done) throw new NfrError('VERIFY_FAILED', `${files.points} has more lines than ${files.vectors} has rows; rebuild with \`nfr index --force\``);
  } finally {
    await lines.return?.(undefined);
  }
}

/** Appends rows to a generation's two files, buffering up to FLUSH_ROWS rows. */
export class RowAppender {
  static readonly FLUSH_ROWS = 1024;
  #vectors: FileHandle | undefined;
  #points: FileHandle | undefined;
  readonly #vectorBuf: Buffer;
  #lines: string[] = [];
  #pending = 0;
  count = 0;

  private constructor(readonly files: RowFiles, readonly dimension: number) {
    this.#vectorBuf = Buffer.alloc(RowAppender.FLUSH_ROWS * dimension * 4);
  }

  static async create(files: RowFiles, dimension: number): Promise<RowAppender> {
    const a = new RowAppender(files, dimension);
    a.#vectors = await open(files.vectors, 'wx', 0o600);
    a.#points = await open(files.points, 'wx', 0o600);
    return a;
  }

  /** Copies the vector, so it may be a view into a buffer the caller reuses. */
  async append(line: string, vector: Float32Array): Promise<void> {
    if (vector.length !== this.dimension) throw new NfrError('INTERNAL', `vector of dimension ${vector.length} for an index of dimension ${this.dimension}`);
    this.#vectorBuf.set(new Uint8Array(vector.buffer, vector.byteOffset, vector.byteLength), this.#pending * this.dimension * 4);
    this.#lines.push(line + '\n');
    this.count++;
    if (++this.#pending >= RowAppender.FLUSH_ROWS) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.#pending === 0) return;
    await this.#vectors!.write(this.#vectorBuf, 0, this.#pending * this.dimension * 4);
    await this.#points!.write(this.#lines.join(''));
    this.#lines = [];
    this.#pending = 0;
  }

  /** Flushes and closes both files, fsyncing them first when `sync`. */
  async close(sync: boolean): Promise<void> {
    try {
      await this.flush();
      if (sync) {
        await this.#vectors?.sync();
        await this.#points?.sync();
      }
    } finally {
      await this.#vectors?.close().catch(() => {});
      await this.#points?.close().catch(() => {});
      this.#vectors = this.#points = undefined;
    }
  }
}
