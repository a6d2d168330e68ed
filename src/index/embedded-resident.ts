/**
 * The embedded index's live generation held in memory, for a long-running process (`nfr serve`):
 * a search is then a pass over typed arrays instead of reading `vectors.f32` and `points.jsonl`
 * from disk. Exact, like the streamed search: the same scores to the bit, the same ties.
 *
 * The vectors are held dimension by dimension (one column of every control's value per
 * dimension), so a query is scored column by column, and a dimension where the query is zero is
 * skipped. The local hash embedder's query vectors are sparse — the bench questions set about
 * twenty of 384 dimensions — so scoring 20,000 controls reads 0.4 million values instead of 7.7
 * million; a dense model's query reads every column, still as contiguous runs. The sums are
 * kept in dot()'s four interleaved accumulators (dimension i adds to sum i mod 4, in dimension
 * order), and a skipped term is an exact zero, so every score equals the streamed one.
 *
 * One resident generation per index directory, shared by every request. Each search reads
 * `CURRENT` (as the streamed search does); when it names another generation, that one is loaded
 * (once, however many requests ask at the same time) and replaces the old, which is freed when
 * the last search using it ends.
 *
 * A generation with lists (ivf.ts: GloVe or an endpoint model, from 4,096 controls) is held row
 * by row in list order instead, and a query scores only the rows of the lists it probes, each as
 * the streamed search scores it — the same rows and scores as the CLI's search of those lists.
 * Its vectors sit in the memory of a WebAssembly kernel (dot-kernel.ts) that takes a list's dot
 * products in one call, three times faster and bit for bit those of dot().
 *
 * Memory: the vectors (dimension × 4 bytes per control: 1.5 KiB at
 * 384 dimensions), a norm per control and the parsed payloads (~0.5 KiB per control): about
 * 240 MiB per 100,000 controls at 384 dimensions. A generation estimated larger than NFR_INDEX_MEMORY_MB is not loaded; searches
 * stream it from disk as the CLI does.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { AttributeTable } from './attribute-table.js';
import { POINTS_FILE, VECTORS_FILE, parsePayload, payloadLines, vectorChunks, type GenerationMeta } from './embedded-files.js';
import { columnStore, type ColumnStore } from './column-kernel.js';
import { DotKernel } from './dot-kernel.js';
import { ivfBytes, listSizes, probedLists, readIvf, type Ivf } from './ivf.js';
import { ResidentDoesNotFit, type ResidentBudget } from './resident-budget.js';
import { cosine, dot, TopK } from './top-k.js';
import type { SearchFilter, SearchHit } from './types.js';

/** Rows per block of the sparse layout: a row's number within its block fits in 16 bits. */
const SPARSE_BLOCK_BITS = 16;

/** How load() lays the vectors out; only tests choose (small blocks cross boundaries on small data). */
export interface LayoutOptions {
  readonly layout?: 'dense' | 'sparse';
  /** log2 of the rows per sparse block, at most 16. */
  readonly blockBits?: number;
}

/**
 * Mostly-zero vectors (the hashing embedder's: about 110 of 384 dimensions set for a control)
 * held sparsely, by block of 65,536 rows and then by dimension: for block b and dimension d,
 * entries start[b × dimension + d] .. start[b × dimension + d + 1] of `rows` (the row within the
 * block) and `values`. 6 bytes per value set instead of 4 per dimension; a query reads only its
 * own dimensions' entries, in dimension order, into the same four interleaved sums as dot(), so
 * the scores are the same to the bit (a skipped zero adds an exact zero).
 */
interface SparseVectors {
  readonly kind: 'sparse';
  readonly blockBits: number;
  readonly start: Uint32Array;
  readonly rows: Uint16Array;
  readonly values: Float32Array;
  readonly squares: Float64Array;
  /** The four running sums of the search in progress, one per row (searches run one at a time). */
  readonly sums: readonly [Float64Array, Float64Array, Float64Array, Float64Array];
}

interface DenseVectors {
  readonly kind: 'dense';
  readonly store: ColumnStore;
}

/**
 * A generation with lists (ivf.ts): the vectors row by row in list order, so a list's rows are
 * one contiguous run; `rowOf[p]` is the generation's row at position p, `start[c]` .. `start[c + 1]`
 * list c's positions, `squares[p]` Σ v² of position p.
 */
interface IvfVectors {
  readonly kind: 'ivf';
  readonly ivf: Ivf;
  readonly data: Float32Array;
  readonly squares: Float64Array;
  readonly rowOf: Uint32Array;
  readonly start: Uint32Array;
  /** Rows per list (start's differences), for unfiltered queries. */
  readonly sizes: Uint32Array;
  /** The WebAssembly kernel whose memory holds `data` (dot-kernel.ts), where there is one. */
  readonly kernel: DotKernel | undefined;
}

/** Bytes of the two layouts for `points` rows with `nonZero` values set in all. */
function layoutBytes(points: number, dimension: number, nonZero: number, blockBits: number): { dense: number; sparse: number } {
  const blocks = Math.max(1, Math.ceil(points / 2 ** blockBits));
  return {
    dense: (points + (points % 2)) * (dimension * 4 + 8) + 4 * 4096 * 8,
    sparse: nonZero * 6 + (blocks * dimension + 1) * 4 + points * (8 + 32),
  };
}

/** Estimated bytes of the attribute table for a points file of `fileBytes` bytes and `points` lines. */
function attributeBytes(points: number, fileBytes: number): number {
  // A line holds two 64-character hashes, the model name and the JSON keys (about 330 bytes)
  // besides the id, title and attributes the table keeps; those cost about 100 bytes more each.
  return Math.max(0, fileBytes - points * 330) + points * 100;
}

export class ResidentGeneration {
  private constructor(
    readonly dir: string,
    readonly meta: GenerationMeta,
    private readonly vectors: SparseVectors | DenseVectors | IvfVectors,
    private readonly table: AttributeTable,
    readonly bytes: number,
  ) {}

  /** Whether the vectors are held sparsely (for tests and /health). */
  get sparse(): boolean {
    return this.vectors.kind === 'sparse';
  }

  /** How the vectors are held: sparse or dense columns (exact scan), or by list (ivf.ts). */
  get layout(): 'sparse' | 'dense' | 'ivf' {
    return this.vectors.kind;
  }

  /**
   * Loads `dir`'s generation in two passes over its vectors: the first counts the values set per
   * block and dimension and sums each row's squares, and decides the layout (sparse when it takes
   * under three quarters of the dense one; never for Euclid, whose sums need every dimension);
   * the second fills the final arrays, allocated once at their size. `fits(bytes)` may refuse
   * the size (ResidentDoesNotFit) before anything large is allocated.
   */
  static async load(dir: string, meta: GenerationMeta, fits: (bytes: number) => void = () => {}, options: LayoutOptions = {}): Promise<ResidentGeneration> {
    const { dimension, points, distance } = meta;
    const file = path.join(dir, VECTORS_FILE);
    const ivf = options.layout ? undefined : await readIvf(dir, meta);
    if (ivf) return ResidentGeneration.#loadIvf(dir, meta, ivf, fits);
    const blockBits = Math.min(SPARSE_BLOCK_BITS, options.blockBits ?? SPARSE_BLOCK_BITS);
    const blocks = Math.max(1, Math.ceil(points / 2 ** blockBits));
    const counts = new Uint32Array(blocks * dimension + 1);
    const squares = new Float64Array(points);
    let rows = 0;
    let nonZero = 0;
    for await (const chunk of vectorChunks(file, dimension)) {
      if (chunk.first + chunk.rows > points) break;
      const data = chunk.data;
      for (let i = 0; i < chunk.rows; i++) {
        const r = chunk.first + i;
        const base = i * dimension;
        squares[r] = dot(data, base, data, base, dimension);
        const at = (r >>> blockBits) * dimension + 1;
        for (let d = 0; d < dimension; d++) {
          if (data[base + d] !== 0) {
            counts[at + d] = (counts[at + d] as number) + 1;
            nonZero++;
          }
        }
      }
      rows = chunk.first + chunk.rows;
    }
    const sizes = layoutBytes(rows, dimension, nonZero, blockBits);
    const sparse = options.layout ? options.layout === 'sparse' : distance !== 'Euclid' && sizes.sparse < 0.75 * sizes.dense;
    const pointsFile = path.join(dir, POINTS_FILE);
    const bytes = (sparse ? sizes.sparse : sizes.dense) + attributeBytes(rows, (await stat(pointsFile)).size);
    fits(bytes);

    let vectors: SparseVectors | DenseVectors;
    if (sparse) {
      const start = counts;
      for (let k = 1; k < start.length; k++) start[k] = (start[k] as number) + (start[k - 1] as number);
      const next = start.slice(0, start.length - 1);
      const local = new Uint16Array(nonZero);
      const values = new Float32Array(nonZero);
      for await (const chunk of vectorChunks(file, dimension)) {
        if (chunk.first + chunk.rows > rows) break;
        const data = chunk.data;
        for (let i = 0; i < chunk.rows; i++) {
          const r = chunk.first + i;
          const base = i * dimension;
          const at = (r >>> blockBits) * dimension;
          const low = r & ((1 << blockBits) - 1);
          for (let d = 0; d < dimension; d++) {
            const v = data[base + d] as number;
            if (v === 0) continue;
            const j = next[at + d] as number;
            next[at + d] = j + 1;
            local[j] = low;
            values[j] = v;
          }
        }
      }
      const sums = [new Float64Array(rows), new Float64Array(rows), new Float64Array(rows), new Float64Array(rows)] as const;
      vectors = { kind: 'sparse', blockBits, start, rows: local, values, squares: squares.subarray(0, rows), sums };
    } else {
      const store = columnStore(rows, dimension);
      const { columns, stride } = store;
      store.squares.set(squares.subarray(0, rows));
      for await (const chunk of vectorChunks(file, dimension)) {
        if (chunk.first + chunk.rows > rows) break;
        const data = chunk.data;
        for (let i = 0; i < chunk.rows; i++) {
          const r = chunk.first + i;
          const base = i * dimension;
          for (let d = 0; d < dimension; d++) columns[d * stride + r] = data[base + d] as number;
        }
      }
      vectors = { kind: 'dense', store };
    }

    const builder = AttributeTable.builder(rows);
    for await (const line of payloadLines(pointsFile)) {
      if (builder.size >= rows) break;
      builder.add(parsePayload(line, pointsFile, builder.size));
    }
    const count = builder.size;
    if (count < rows) throw new ResidentDoesNotFit(`${pointsFile} has ${count} lines for ${rows} vectors; rebuild with \`nfr index --force\``);
    return new ResidentGeneration(dir, meta, vectors, builder.finish(), bytes);
  }

  /**
   * Loads a generation with lists in one pass over its vectors, each row copied to its list's
   * next position in the final arrays (allocated once, after `fits` accepted their size).
   */
  static async #loadIvf(dir: string, meta: GenerationMeta, ivf: Ivf, fits: (bytes: number) => void): Promise<ResidentGeneration> {
    const { dimension, points } = meta;
    const pointsFile = path.join(dir, POINTS_FILE);
    // The list numbers (4 bytes a row) are held too: a filtered query counts its rows per list.
    const sizes = listSizes(ivf);
    const largest = sizes.reduce((a, b) => Math.max(a, b), 0);
    // The kernel's memory beyond the vectors: the query, a list's products, a page of rounding.
    const bytes = points * (dimension * 4 + 4) + ivfBytes(points, dimension, ivf.lists) + attributeBytes(points, (await stat(pointsFile)).size) + largest * 8 + 65536;
    fits(bytes);
    const start = new Uint32Array(ivf.lists + 1);
    for (let c = 0; c < ivf.lists; c++) start[c + 1] = (start[c] as number) + (sizes[c] as number);
    const next = start.slice(0, ivf.lists);
    // The vectors in the kernel's memory, so a list's products are one call (dot-kernel.ts).
    const kernel = DotKernel.create(dimension, points, largest);
    const data = kernel?.data ?? new Float32Array(points * dimension);
    const squares = new Float64Array(points);
    const rowOf = new Uint32Array(points);
    let rows = 0;
    for await (const chunk of vectorChunks(path.join(dir, VECTORS_FILE), dimension)) {
      for (let i = 0; i < chunk.rows && chunk.first + i < points; i++) {
        const r = chunk.first + i;
        const c = ivf.assignment[r] as number;
        const p = next[c] as number;
        next[c] = p + 1;
        data.set(chunk.data.subarray(i * dimension, (i + 1) * dimension), p * dimension);
        squares[p] = dot(chunk.data, i * dimension, chunk.data, i * dimension, dimension);
        rowOf[p] = r;
        rows++;
      }
    }
    if (rows < points) throw new ResidentDoesNotFit(`${path.join(dir, VECTORS_FILE)} has ${rows} vectors for ${points} points; rebuild with \`nfr index --force\``);
    const builder = AttributeTable.builder(points);
    for await (const line of payloadLines(pointsFile)) {
      if (builder.size >= points) break;
      builder.add(parsePayload(line, pointsFile, builder.size));
    }
    if (builder.size < points) throw new ResidentDoesNotFit(`${pointsFile} has ${builder.size} lines for ${points} vectors; rebuild with \`nfr index --force\``);
    return new ResidentGeneration(dir, meta, { kind: 'ivf', ivf, data, squares, rowOf, start, sizes, kernel }, builder.finish(), bytes);
  }

  get points(): number {
    return this.table.size;
  }

  /** The `limit` best rows passing `filter`, scored as similarity() scores them. */
  search(query: Float32Array, limit: number, filter: SearchFilter | undefined): SearchHit[] {
    const { distance } = this.meta;
    const admitted = filter ? this.table.admitted(filter).rows : undefined;
    const top = new TopK(limit);
    if (this.vectors.kind === 'sparse') this.#searchSparse(this.vectors, query, admitted, top);
    else if (this.vectors.kind === 'ivf') this.#searchIvf(this.vectors, query, limit, admitted, top);
    else this.#searchDense(this.vectors.store, query, admitted, top);
    return top.sorted().map(({ row, score }) => {
      const a = this.table.row(row);
      return {
        control_id: a.control_id,
        title: a.title,
        status: a.status,
        // Euclid is ranked by negated distance; report the distance, as Qdrant does.
        score: distance === 'Euclid' ? -score : score,
        owning_function_id: a.owning_function_id,
        risk_theme_ids: [...a.risk_theme_ids],
        owning_location_id: a.owning_location_id,
        family_id: a.family_id,
        key_control: a.key_control,
      };
    });
  }

  /** The rows of the probed lists (ivf.ts), each scored as similarity() scores it. */
  #searchIvf(v: IvfVectors, query: Float32Array, limit: number, admitted: Uint8Array | undefined, top: TopK): void {
    const { dimension } = this.meta;
    const { ivf, data, squares, rowOf, start, sizes, kernel } = v;
    const probed = probedLists(ivf, query, limit, admitted ? listSizes(ivf, admitted) : sizes);
    const qq = dot(query, 0, query, 0, dimension);
    let floor = -Infinity;
    for (let c = 0; c < ivf.lists; c++) {
      if (probed[c] === 0) continue;
      const from = start[c] as number;
      const to = start[c + 1] as number;
      // The list's products in one call where there is a kernel: the same bits as dot().
      const products = kernel?.dots(query, from, to - from);
      for (let p = from; p < to; p++) {
        const r = rowOf[p] as number;
        if (admitted !== undefined && admitted[r] === 0) continue;
        const qv = products ? (products[p - from] as number) : dot(query, 0, data, p * dimension, dimension);
        const score = cosine(qv, qq, squares[p] as number);
        if (score < floor) continue;
        top.offer(r, score);
        floor = top.floor;
      }
    }
  }

  #searchSparse(v: SparseVectors, query: Float32Array, admitted: Uint8Array | undefined, top: TopK): void {
    const { dimension, distance } = this.meta;
    const n = this.table.size;
    const { start, rows, values, squares, sums, blockBits } = v;
    const [s0, s1, s2, s3] = sums;
    const qq = dot(query, 0, query, 0, dimension);
    const main = dimension - (dimension % 4);
    const blocks = Math.max(1, Math.ceil(n / 2 ** blockBits));
    for (let b = 0; b < blocks; b++) {
      const base = b << blockBits;
      for (let d = 0; d < dimension; d++) {
        const q = query[d] as number;
        if (q === 0) continue;
        const sum = d >= main ? s0 : (sums[d & 3] as Float64Array);
        const to = start[b * dimension + d + 1] as number;
        for (let j = start[b * dimension + d] as number; j < to; j++) {
          const r = base + (rows[j] as number);
          sum[r] = (sum[r] as number) + q * (values[j] as number);
        }
      }
    }
    const cosineDistance = distance === 'Cosine';
    let floor = -Infinity;
    for (let r = 0; r < n; r++) {
      const qv = (s0[r] as number) + (s1[r] as number) + (s2[r] as number) + (s3[r] as number);
      const score = cosineDistance ? cosine(qv, qq, squares[r] as number) : qv;
      if (score < floor || (admitted !== undefined && admitted[r] === 0)) continue;
      top.offer(r, score);
      floor = top.floor;
    }
    s0.fill(0);
    s1.fill(0);
    s2.fill(0);
    s3.fill(0);
  }

  #searchDense(store: ColumnStore, query: Float32Array, admitted: Uint8Array | undefined, top: TopK): void {
    const { dimension, distance } = this.meta;
    const n = this.table.size;
    const { columns, stride, sums, squares } = store;
    const [s0, s1, s2, s3] = sums;
    const block = s0.length;
    const qq = dot(query, 0, query, 0, dimension);
    const euclid = distance === 'Euclid';
    const cosineDistance = distance === 'Cosine';
    // dot(): dimension d adds to sum d mod 4, except the tail past the last multiple of four,
    // which goes to the first sum.
    const main = dimension - (dimension % 4);
    let floor = -Infinity;
    for (let first = 0; first < n; first += block) {
      const count = Math.min(block, stride - first);
      s0.fill(0, 0, count);
      if (euclid) {
        // One sum in dimension order, as similarity() adds the squared differences.
        for (let d = 0; d < dimension; d++) {
          const q = query[d] as number;
          const base = d * stride + first;
          for (let i = 0; i < count; i++) {
            const diff = q - (columns[base + i] as number);
            s0[i] = (s0[i] as number) + diff * diff;
          }
        }
      } else {
        s1.fill(0, 0, count);
        s2.fill(0, 0, count);
        s3.fill(0, 0, count);
        for (let d = 0; d < dimension; d++) {
          const q = query[d] as number;
          if (q !== 0) store.axpy(q, d, d >= main ? 0 : ((d & 3) as 0 | 1 | 2 | 3), first, count);
        }
      }
      // Cosine, the usual case, is computed in the store (SIMD) into the first sum, as cosine()
      // computes it; a zero vector's NaN there is cosine()'s 0.
      const scored = cosineDistance && qq !== 0;
      if (scored) store.cosines(qq, first, count);
      const end = Math.min(count, n - first);
      for (let i = 0; i < end; i++) {
        const r = first + i;
        let score: number;
        if (scored) {
          score = s0[i] as number;
          if (Number.isNaN(score)) score = 0;
        } else if (euclid) score = -Math.sqrt(s0[i] as number);
        else {
          const qv = (s0[i] as number) + (s1[i] as number) + (s2[i] as number) + (s3[i] as number);
          score = cosineDistance ? cosine(qv, qq, squares[r] as number) : qv;
        }
        if (score < floor || (admitted !== undefined && admitted[r] === 0)) continue;
        top.offer(r, score);
        floor = top.floor;
      }
    }
  }
}

const resident = new Map<string, { dir: string; loading: Promise<ResidentGeneration | undefined> }>();
/** Why the live generation of a location is not resident (it does not fit), for search warnings. */
const refused = new Map<string, string>();

/**
 * The resident copy of the generation in `dir` (the live one of `location`), loading it if it is
 * not the one held; undefined when it does not fit in `budget` beside the other resident state
 * (searches then stream it from disk, and residentRefusal() says why).
 */
export async function residentGeneration(location: string, dir: string, meta: GenerationMeta, budget: ResidentBudget): Promise<ResidentGeneration | undefined> {
  const held = resident.get(location);
  if (held?.dir === dir) return held.loading;
  const owner = `generation ${location}`;
  const loading = (async () => {
    // The generation it replaces is dropped first: requests wait for this load rather than use
    // it, so the two are never both held (the old one is freed as its last search ends).
    try {
      const g = await ResidentGeneration.load(dir, meta, (bytes) => budget.claim(owner, bytes, 'the vector index', 'searches read it from disk, slower'));
      refused.delete(location);
      return g;
    } catch (err) {
      if (!(err instanceof ResidentDoesNotFit)) throw err;
      refused.set(location, err.message);
      return undefined;
    }
  })();
  resident.set(location, { dir, loading });
  // A failed load (the generation was replaced meanwhile) is tried again by the next search.
  loading.catch(() => {
    if (resident.get(location)?.loading === loading) resident.delete(location);
  });
  return loading;
}

/** Why the live generation of `location` is not held in memory, when it is not. */
export function residentRefusal(location: string): string | undefined {
  return refused.get(location);
}

/** What is resident, for /health and tests. */
export function residentInfo(location: string): Promise<{ dir: string; points: number; bytes: number } | undefined> {
  const held = resident.get(location);
  if (!held) return Promise.resolve(undefined);
  return held.loading.then(
    (g) => (g ? { dir: g.dir, points: g.points, bytes: g.bytes } : undefined),
    () => undefined,
  );
}
