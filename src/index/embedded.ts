/**
 * The embedded vector index: plain files under one directory, exact (brute-force) search, or,
 * for a large generation of dense vectors, approximate: only the rows of the lists nearest the
 * query, each scored exactly (ivf.ts; the lists are built when the generation is written).
 *
 *   <indexPath>/CURRENT          name of the live generation ("gen-000007"), replaced atomically
 *   <indexPath>/gen-000007/      meta.json, vectors.f32, points.jsonl (see embedded-files.ts),
 *                                ivf.bin when it has lists (see ivf.ts)
 *   <indexPath>/.tmp-gen-*       a write in progress; removed by the next writer
 *
 * A writer builds a complete new generation in a temp directory (old rows it keeps, then the new
 * ones), fsyncs it, renames it into place and only then points CURRENT at it. A process killed at
 * any step leaves CURRENT naming the old, complete generation. Copying the directory while no
 * `nfr index` runs is a consistent snapshot of the index.
 */
import { statSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { NfrError } from '../errors.js';
import { faultPoint } from '../util/fault.js';
import { atomicWriteFile, ensureDir, fsyncDir } from '../util/fs.js';
import { FORMAT_VERSION, META_FILE, POINTS_FILE, VECTORS_FILE, generationFiles, parsePayload, payloadLines, readMeta, rows, vectorChunks, RowAppender, type GenerationMeta, type RowFiles } from './embedded-files.js';
import { residentGeneration, residentRefusal } from './embedded-resident.js';
import { buildIvf, listSizes, probedLists, readIvf, type IvfBuildOptions } from './ivf.js';
import { residentBudget } from './resident-budget.js';
import { TopK, similarity } from './top-k.js';
import { isEmptyFilter, matchesFilter, modelMismatch, type IndexDescription, type IndexedEntry, type IndexModel, type IndexPoint, type IndexWriter, type SearchFilter, type SearchHit, type VectorIndex } from './types.js';

const CURRENT_FILE = 'CURRENT';
const GEN_PATTERN = /^gen-(\d{6,})$/;
const ENTRY_BATCH = 1000;

/** The live generation each index directory's CURRENT named when last read by a resident instance, by that file's identity. */
const lastLive = new Map<string, { readonly stamp: string; readonly live: { dir: string; meta: GenerationMeta } }>();

export class EmbeddedIndex implements VectorIndex {
  readonly kind = 'embedded' as const;
  /**
   * The live generation as this instance first read it, for describe() and search() of a
   * resident instance: the server opens one per request, so a request's description and its
   * hits come from the same generation, read once (CURRENT and meta.json are two file reads, a
   * good part of a resident search's cost).
   */
  #live: Promise<{ dir: string; meta: GenerationMeta } | undefined> | undefined;

  /**
   * `residentMaxBytes`: keep the live generation in memory (a long-running server) when it is
   * estimated to take at most this much (embedded-resident.ts); otherwise every search streams it.
   */
  constructor(
    readonly location: string,
    private readonly options: {
      readonly residentMaxBytes?: number;
      /** Lists for the generations this instance writes (ivf.ts; tests lower the threshold). */
      readonly ivf?: IvfBuildOptions;
    } = {},
  ) {}

  /** The live generation's directory and meta, or undefined when there is no index yet. */
  async current(): Promise<{ dir: string; meta: GenerationMeta } | undefined> {
    let name: string;
    try {
      name = (await readFile(path.join(this.location, CURRENT_FILE), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if (!GEN_PATTERN.test(name)) throw new NfrError('VERIFY_FAILED', `${path.join(this.location, CURRENT_FILE)} names no generation ("${name.slice(0, 40)}"); rebuild with \`nfr index --force\``);
    const dir = path.join(this.location, name);
    return { dir, meta: await readMeta(dir) };
  }

  /** current(), read once per resident instance (see #live); every call for a streaming one. */
  #reading(): Promise<{ dir: string; meta: GenerationMeta } | undefined> {
    if (this.options.residentMaxBytes === undefined) return this.current();
    this.#live ??= this.#residentCurrent();
    return this.#live;
  }

  /**
   * current() for the server, which opens an instance per request: CURRENT is only ever replaced
   * by a rename (never written in place) and a generation's meta.json never changes, so while
   * CURRENT is the same file (device, inode, change time) the live generation is the one read
   * last. One stat, synchronous (a few microseconds, no trip through libuv's thread pool),
   * instead of opening and reading two files on every search. The stat comes before the read,
   * so a remembered generation is never older than the file it is remembered for.
   */
  async #residentCurrent(): Promise<{ dir: string; meta: GenerationMeta } | undefined> {
    let stamp: string;
    try {
      const st = statSync(path.join(this.location, CURRENT_FILE), { bigint: true });
      stamp = `${st.dev}:${st.ino}:${st.ctimeNs}:${st.size}`;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      lastLive.delete(this.location);
      return undefined;
    }
    const known = lastLive.get(this.location);
    if (known?.stamp === stamp) return known.live;
    const live = await this.current();
    if (live) lastLive.set(this.location, { stamp, live });
    return live;
  }

  async describe(): Promise<IndexDescription | undefined> {
    const cur = await this.#retry(() => this.#reading());
    if (!cur) return undefined;
    const m = cur.meta;
    return { model: m.model, dimension: m.dimension, distance: m.distance, points: m.points, source_signature: m.source_signature };
  }

  /**
   * The live generation's ids and hashes. Its files are then checked against meta.json (vectors
   * of `points` rows, as many payload lines), after the last batch, so `nfr index --check` and the
   * sync, which read the payloads only, do not call a generation whose vectors are truncated or
   * lost consistent while every search over it fails.
   */
  async *entries(): AsyncIterable<readonly IndexedEntry[]> {
    const cur = await this.current();
    if (!cur) return;
    const files = generationFiles(cur.dir);
    let batch: IndexedEntry[] = [];
    let row = 0;
    for await (const line of payloadLines(files.points)) {
      const p = parsePayload(line, files.points, row++);
      batch.push({ control_id: p.control_id, text_hash: p.text_hash, payload_hash: p.payload_hash });
      if (batch.length >= ENTRY_BATCH) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
    if (row !== cur.meta.points) {
      throw new NfrError('VERIFY_FAILED', `${files.points}: ${row} points where meta.json says ${cur.meta.points}; the index is damaged: rebuild it with \`nfr index --force\``);
    }
    const expected = cur.meta.points * cur.meta.dimension * 4;
    const size = await stat(files.vectors).then(
      (s) => s.size,
      () => null,
    );
    if (size !== expected) {
      throw new NfrError('VERIFY_FAILED', `${files.vectors}: ${size === null ? 'missing' : `${size} bytes`} where meta.json's ${cur.meta.points} points of ${cur.meta.dimension} dimensions take ${expected}; the index is damaged: rebuild it with \`nfr index --force\``);
    }
  }

  async begin(model: IndexModel, options: { reset: boolean }): Promise<IndexWriter> {
    await ensureDir(this.location);
    // --force must be able to replace a damaged index, so a reset does not need to read it.
    const cur = await this.current().catch((err: unknown) => {
      if (options.reset && err instanceof NfrError) return undefined;
      throw err;
    });
    if (cur && !options.reset) {
      const mismatch = modelMismatch(cur.meta, model);
      if (mismatch) throw new NfrError('SCHEMA_MISMATCH', `${mismatch}; rebuild the index with \`nfr index --force\``);
    }
    await this.#removeLeftovers(cur?.dir);
    const generation = (cur?.meta.generation ?? 0) + 1;
    const base = options.reset ? undefined : cur;
    const tmp = path.join(this.location, `.tmp-gen-${String(generation).padStart(6, '0')}`);
    await ensureDir(tmp);
    const staged = await RowAppender.create(stagedFiles(tmp), model.dimension);
    return new EmbeddedWriter(this.location, tmp, generation, model, base?.dir, cur?.dir, staged, this.options.ivf);
  }

  async search(vector: Float32Array, limit: number, filter?: SearchFilter): Promise<SearchHit[]> {
    return this.#retry(async () => {
      const cur = await this.#reading();
      if (!cur) return [];
      const { dimension, distance } = cur.meta;
      if (vector.length !== dimension) throw new NfrError('SCHEMA_MISMATCH', `query vector has dimension ${vector.length}, the index ${dimension}; rebuild with \`nfr index --force\``);
      const where = isEmptyFilter(filter) ? undefined : filter;
      if (this.options.residentMaxBytes !== undefined) {
        const held = await residentGeneration(this.location, cur.dir, cur.meta, residentBudget(this.options.residentMaxBytes));
        if (held) return held.search(vector, limit, where);
      }
      const allowed = where === undefined ? undefined : await this.#rowsPassing(cur.dir, cur.meta.points, where);
      // A generation with lists: only the rows of the lists the query probes, as the server does.
      const ivf = await readIvf(cur.dir, cur.meta);
      const probed = ivf && probedLists(ivf, vector, limit, listSizes(ivf, allowed));
      const top = new TopK(limit);
      for await (const chunk of vectorChunks(path.join(cur.dir, VECTORS_FILE), dimension)) {
        for (let i = 0; i < chunk.rows; i++) {
          if (allowed && allowed[chunk.first + i] === 0) continue;
          if (probed && ivf && probed[ivf.assignment[chunk.first + i] as number] === 0) continue;
          top.offer(chunk.first + i, similarity(distance, vector, chunk.data, i * dimension));
        }
      }
      const best = top.sorted();
      const wanted = new Map(best.map((b) => [b.row, b.score]));
      const hits = new Map<number, SearchHit>();
      let row = 0;
      for await (const line of payloadLines(path.join(cur.dir, POINTS_FILE))) {
        const score = wanted.get(row);
        if (score !== undefined) {
          const p = parsePayload(line, path.join(cur.dir, POINTS_FILE), row);
          // Euclid is ranked by negated distance internally; report the distance, as Qdrant does.
          hits.set(row, { control_id: p.control_id, title: p.title, status: p.status, score: distance === 'Euclid' ? -score : score, owning_function_id: p.owning_function_id, risk_theme_ids: p.risk_theme_ids, owning_location_id: p.owning_location_id, family_id: p.family_id, key_control: p.key_control });
          if (hits.size === wanted.size) break;
        }
        row++;
      }
      return best.flatMap((b) => hits.get(b.row) ?? []);
    });
  }

  /** Which rows' payloads pass `filter` (1) or not (0). */
  async #rowsPassing(dir: string, points: number, filter: SearchFilter): Promise<Uint8Array> {
    const file = path.join(dir, POINTS_FILE);
    const pass = new Uint8Array(points);
    let row = 0;
    for await (const line of payloadLines(file)) {
      if (row < points && matchesFilter(parsePayload(line, file, row), filter)) pass[row] = 1;
      row++;
    }
    return pass;
  }

  /** A resident instance loads the live generation, so the first search does not wait for it. */
  async warm(): Promise<void> {
    const max = this.options.residentMaxBytes;
    if (max === undefined) return;
    const cur = await this.#retry(() => this.#reading());
    if (cur) await residentGeneration(this.location, cur.dir, cur.meta, residentBudget(max));
  }

  /** Why a resident instance searches from disk (its generation does not fit NFR_INDEX_MEMORY_MB). */
  memoryNote(): string | undefined {
    return this.options.residentMaxBytes === undefined ? undefined : residentRefusal(this.location);
  }

  async close(): Promise<void> {}

  /** A writer may remove the generation a reader just resolved; reading again finds the new one. */
  async #retry<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      // The generation was replaced while it was read: read CURRENT again.
      this.#live = undefined;
      lastLive.delete(this.location);
      return fn();
    }
  }

  /** Temp dirs of killed writers and generations no longer current (writers hold the operation lock). */
  async #removeLeftovers(currentDir: string | undefined): Promise<void> {
    for (const name of await readdir(this.location)) {
      const full = path.join(this.location, name);
      if (name.startsWith('.tmp-gen-') || (GEN_PATTERN.test(name) && full !== currentDir)) await rm(full, { recursive: true, force: true });
    }
  }
}

class EmbeddedWriter implements IndexWriter {
  /** Row of each staged control in staged.*; a later upsert of the same control supersedes. */
  readonly #stagedRow = new Map<string, number>();
  readonly #deleted = new Set<string>();
  #done = false;

  constructor(
    readonly root: string,
    readonly tmp: string,
    readonly generation: number,
    readonly model: IndexModel,
    /** Generation whose rows are kept (undefined on reset). */
    readonly baseDir: string | undefined,
    /** Generation to remove once the new one is current. */
    readonly previousDir: string | undefined,
    readonly staged: RowAppender,
    readonly ivf: IvfBuildOptions | undefined,
  ) {}

  async upsert(points: readonly IndexPoint[]): Promise<void> {
    for (const p of points) {
      this.#deleted.delete(p.payload.control_id);
      this.#stagedRow.set(p.payload.control_id, this.staged.count);
      await this.staged.append(JSON.stringify(p.payload), p.vector);
    }
    await this.staged.flush();
    await faultPoint('index-staged');
  }

  async delete(controlIds: readonly string[]): Promise<void> {
    for (const id of controlIds) {
      this.#stagedRow.delete(id);
      this.#deleted.add(id);
    }
  }

  async commit(sourceSignature: string): Promise<number> {
    if (this.#done) throw new NfrError('INTERNAL', 'index writer already finished');
    this.#done = true;
    try {
      await this.staged.close(false);
      if (this.staged.count === 0 && this.#deleted.size === 0 && this.baseDir) return await this.#touch(sourceSignature);
      const { dimension } = this.model;
      const out = await RowAppender.create(generationFiles(this.tmp), dimension);
      try {
        if (this.baseDir) {
          let row = 0;
          for await (const r of rows(generationFiles(this.baseDir), dimension)) {
            const id = parsePayload(r.line, path.join(this.baseDir, POINTS_FILE), row++).control_id;
            if (!this.#deleted.has(id) && !this.#stagedRow.has(id)) await out.append(r.line, r.vector);
          }
        }
        let row = 0;
        const staged = stagedFiles(this.tmp);
        for await (const r of rows(staged, dimension)) {
          const id = parsePayload(r.line, staged.points, row).control_id;
          if (this.#stagedRow.get(id) === row) await out.append(r.line, r.vector);
          row++;
        }
      } finally {
        await out.close(true);
      }
      await rm(stagedFiles(this.tmp).vectors, { force: true });
      await rm(stagedFiles(this.tmp).points, { force: true });
      await buildIvf(this.tmp, { dimension, distance: this.model.distance, points: out.count }, this.ivf);
      const meta: GenerationMeta = {
        format: FORMAT_VERSION,
        model: this.model.model,
        dimension,
        distance: this.model.distance,
        points: out.count,
        generation: this.generation,
        source_signature: sourceSignature,
        written_at: new Date().toISOString(),
      };
      await atomicWriteFile(path.join(this.tmp, META_FILE), JSON.stringify(meta, null, 2) + '\n');
      await fsyncDir(this.tmp);
      const name = `gen-${String(this.generation).padStart(6, '0')}`;
      await faultPoint('index-before-swap');
      await rename(this.tmp, path.join(this.root, name));
      await fsyncDir(this.root);
      // The commit point: until CURRENT is replaced, readers and a crash see the old generation.
      await atomicWriteFile(path.join(this.root, CURRENT_FILE), name + '\n');
      if (this.previousDir) await rm(this.previousDir, { recursive: true, force: true });
      return out.count;
    } catch (err) {
      await rm(this.tmp, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  /** Nothing to write: only the source signature of the current generation changes. */
  async #touch(sourceSignature: string): Promise<number> {
    const dir = this.baseDir as string;
    const meta = await readMeta(dir);
    if (meta.source_signature !== sourceSignature) {
      await atomicWriteFile(path.join(dir, META_FILE), JSON.stringify({ ...meta, source_signature: sourceSignature, written_at: new Date().toISOString() }, null, 2) + '\n');
    }
    await rm(this.tmp, { recursive: true, force: true });
    return meta.points;
  }

  async abort(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    await this.staged.close(false).catch(() => {});
    await rm(this.tmp, { recursive: true, force: true });
  }
}

/** Where a writer appends upserted rows before commit merges them into the new generation. */
function stagedFiles(tmp: string): RowFiles {
  return { vectors: path.join(tmp, 'staged.f32'), points: path.join(tmp, 'staged.jsonl') };
}
