/**
 * The approximate part of the embedded index for dense vectors: an inverted file (IVF). The
 * generation's rows are split into lists by k-means (about 2√points lists); a query is compared
 * with the lists' centroids and only the rows of the nearest lists are scored, each exactly as
 * the full scan scores it (similarity(), the same bits), so the approximation lies only in which
 * rows are looked at. About a fifth of the rows are read instead of all of them.
 *
 * Built by `nfr index` when it writes a generation (`ivf.bin` beside `vectors.f32`), not by the
 * process that searches: the CLI's streamed search and the server's resident one read the same
 * lists, probe them by the same rule and score the same rows, so they return the same results.
 * Deterministic: the training sample is every k-th row and k-means++ draws from a seeded
 * generator, so the same vectors always give the same lists.
 *
 * Only for cosine-distance generations of at least IVF_MIN_POINTS rows whose vectors are mostly
 * non-zero (GloVe, an endpoint model): the hashing embedder's sparse vectors keep the exact sparse
 * scan, which reads only a query's own dimensions and is as fast.
 *
 *   ivf.bin   header (magic "NFIV", version, lists, dimension, points; five uint32 LE), then
 *             `lists × dimension` float32 unit centroids, then `points` uint32 list numbers
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { NfrError } from '../errors.js';
import { atomicWriteFile } from '../util/fs.js';
import { vectorChunks, VECTORS_FILE, type GenerationMeta } from './embedded-files.js';
import { dot } from './top-k.js';
import { seededRandom } from '../util/random.js';

export const IVF_FILE = 'ivf.bin';
/** Below this many rows a full scan takes well under a millisecond: no lists. */
export const IVF_MIN_POINTS = 4096;
const MAGIC = 0x5649464e; // "NFIV"
const VERSION = 1;
const HEADER_BYTES = 20;
/** Share of the lists every query reads at least (recall@10 ≥ 0.95 measured against the exact scan in test/ivf.test.ts). */
export const PROBE_SHARE = 0.2;
/** And lists until this many candidate rows per wanted result (passing the filter) are read. */
const CANDIDATES_PER_RESULT = 8;
/** Training rows per list, at most: k-means on a sample of the rows, then every row assigned. */
const SAMPLE_PER_LIST = 16;
const ITERATIONS = 5;
const SEED = 0x6e6672; // "nfr"
/** Vectors with at least this share of non-zero values get lists; sparser ones keep the sparse scan. */
const DENSE_SHARE = 0.5;

/** A generation's lists: unit centroids and each row's list. */
export interface Ivf {
  readonly lists: number;
  readonly dimension: number;
  readonly centroids: Float32Array;
  readonly assignment: Uint32Array;
}

export interface IvfBuildOptions {
  /** Rows below which no lists are built (IVF_MIN_POINTS; tests lower it). */
  readonly minPoints?: number;
  /** The number of lists (default about √points; tests choose). */
  readonly lists?: number;
}

/**
 * Bytes the resident copy of a generation with lists takes beyond its vectors and list numbers:
 * the centroids, each position's row (4 bytes) and Σ v² (8), the lists' start positions.
 */
export function ivfBytes(points: number, dimension: number, lists: number): number {
  return lists * dimension * 4 + points * 12 + (lists + 1) * 8;
}

/**
 * The number of lists for `points` rows: 2√points. Measured on GloVe vectors of NIST and
 * generated controls, more and smaller lists find more of the exact top 10 for the same rows
 * read (√n lists: 0.94 at 13 % of the rows; 2√n: 0.97; 4√n: 0.98) but cost more to build.
 */
export function listCount(points: number): number {
  return Math.max(1, Math.round(2 * Math.sqrt(points)));
}

/**
 * Writes `dir`'s ivf.bin when its generation qualifies (see the module comment); returns whether
 * it did. Reads vectors.f32 twice (a sample, then every row's list), holding only the sample,
 * the centroids and the list numbers (4 bytes a row).
 */
export async function buildIvf(dir: string, meta: Pick<GenerationMeta, 'dimension' | 'distance' | 'points'>, options: IvfBuildOptions = {}): Promise<boolean> {
  const { dimension, distance, points } = meta;
  if (distance !== 'Cosine' || points < (options.minPoints ?? IVF_MIN_POINTS) || points === 0) return false;
  const file = path.join(dir, VECTORS_FILE);
  const lists = Math.min(points, options.lists ?? listCount(points));
  // Rows spread evenly over the generation: row r is taken when ⌊r·S/points⌋ steps up.
  const sampleRows = Math.min(points, lists * SAMPLE_PER_LIST);
  const sample = new Float32Array(sampleRows * dimension);
  let taken = 0;
  let nonZero = 0;
  for await (const chunk of vectorChunks(file, dimension)) {
    const data = chunk.data;
    for (let i = 0; i < chunk.rows; i++) {
      const r = chunk.first + i;
      if (r >= points) break;
      const base = i * dimension;
      for (let d = 0; d < dimension; d++) if (data[base + d] !== 0) nonZero++;
      if (Math.floor(((r + 1) * sampleRows) / points) === Math.floor((r * sampleRows) / points)) continue;
      const vv = dot(data, base, data, base, dimension);
      if (vv === 0) continue;
      const scale = 1 / Math.sqrt(vv);
      for (let d = 0; d < dimension; d++) sample[taken * dimension + d] = (data[base + d] as number) * scale;
      taken++;
    }
  }
  if (nonZero < DENSE_SHARE * points * dimension || taken === 0) return false;
  const centroids = kMeans(sample.subarray(0, taken * dimension), taken, dimension, Math.min(lists, taken));
  const k = centroids.length / dimension;
  const assignment = new Uint32Array(points);
  for await (const chunk of vectorChunks(file, dimension)) {
    for (let i = 0; i < chunk.rows && chunk.first + i < points; i++) assignment[chunk.first + i] = nearest(centroids, k, dimension, chunk.data, i * dimension);
  }
  const header = new Uint32Array([MAGIC, VERSION, k, dimension, points]);
  const bytes = new Uint8Array(HEADER_BYTES + centroids.byteLength + assignment.byteLength);
  bytes.set(new Uint8Array(header.buffer), 0);
  bytes.set(new Uint8Array(centroids.buffer, centroids.byteOffset, centroids.byteLength), HEADER_BYTES);
  bytes.set(new Uint8Array(assignment.buffer), HEADER_BYTES + centroids.byteLength);
  await atomicWriteFile(path.join(dir, IVF_FILE), bytes, 0o600);
  return true;
}

/** `dir`'s lists, or undefined when the generation has none (an exact-scan generation). */
export async function readIvf(dir: string, meta: Pick<GenerationMeta, 'dimension' | 'points'>): Promise<Ivf | undefined> {
  const file = path.join(dir, IVF_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const damaged = (what: string) => new NfrError('VERIFY_FAILED', `${file}: ${what}; rebuild the index with \`nfr index --force\``);
  if (bytes.length < HEADER_BYTES || bytes.readUInt32LE(0) !== MAGIC) throw damaged('not an nfr list file');
  if (bytes.readUInt32LE(4) !== VERSION) throw damaged(`version ${bytes.readUInt32LE(4)}, expected ${VERSION}`);
  const lists = bytes.readUInt32LE(8);
  const dimension = bytes.readUInt32LE(12);
  const points = bytes.readUInt32LE(16);
  if (dimension !== meta.dimension || points !== meta.points || lists < 1) throw damaged(`${lists} lists of ${points} rows of ${dimension} dimensions, the generation has ${meta.points} of ${meta.dimension}`);
  if (bytes.length !== HEADER_BYTES + lists * dimension * 4 + points * 4) throw damaged(`${bytes.length} bytes, expected ${HEADER_BYTES + lists * dimension * 4 + points * 4}`);
  // Copies, aligned: the Buffer may sit at any offset.
  const centroids = new Float32Array(lists * dimension);
  new Uint8Array(centroids.buffer).set(bytes.subarray(HEADER_BYTES, HEADER_BYTES + centroids.byteLength));
  const assignment = new Uint32Array(points);
  new Uint8Array(assignment.buffer).set(bytes.subarray(HEADER_BYTES + centroids.byteLength));
  for (let r = 0; r < points; r++) if ((assignment[r] as number) >= lists) throw damaged(`row ${r} names list ${assignment[r]} of ${lists}`);
  return { lists, dimension, centroids, assignment };
}

/**
 * Which lists a query reads (1) and which not (0): the lists in order of their centroid's
 * similarity to the query (ties: the lower number), at least PROBE_SHARE of them, and on until
 * they hold CANDIDATES_PER_RESULT × `limit` rows that may be returned (`sizes(list)`: the rows of
 * the list passing the filter). The CLI and the server call this with the same numbers.
 */
export function probedLists(ivf: Ivf, query: Float32Array, limit: number, sizes: ArrayLike<number>, share = PROBE_SHARE): Uint8Array {
  const { lists, dimension, centroids } = ivf;
  const scores = new Float64Array(lists);
  for (let c = 0; c < lists; c++) scores[c] = dot(query, 0, centroids, c * dimension, dimension);
  const order = Array.from({ length: lists }, (_, c) => c).sort((a, b) => (scores[b] as number) - (scores[a] as number) || a - b);
  const minimum = Math.max(1, Math.ceil(lists * share));
  const wanted = limit * CANDIDATES_PER_RESULT;
  const probed = new Uint8Array(lists);
  let candidates = 0;
  for (let i = 0; i < lists && (i < minimum || candidates < wanted); i++) {
    const c = order[i] as number;
    probed[c] = 1;
    candidates += sizes[c] as number;
  }
  return probed;
}

/** Rows per list, counting only rows with `admitted[row]` set when given. */
export function listSizes(ivf: Ivf, admitted?: Uint8Array): Uint32Array {
  const sizes = new Uint32Array(ivf.lists);
  const { assignment } = ivf;
  for (let r = 0; r < assignment.length; r++) {
    if (admitted && admitted[r] === 0) continue;
    const c = assignment[r] as number;
    sizes[c] = (sizes[c] as number) + 1;
  }
  return sizes;
}

/** The list whose centroid is most similar to the row at `offset` (the lower number on ties). */
function nearest(centroids: Float32Array, k: number, dimension: number, data: Float32Array, offset: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let c = 0; c < k; c++) {
    const s = dot(data, offset, centroids, c * dimension, dimension);
    if (s > bestScore) {
      bestScore = s;
      best = c;
    }
  }
  return best;
}

/**
 * Spherical k-means on `n` unit rows: k-means++ seeding from a seeded generator, then ITERATIONS
 * rounds of assigning every row to its most similar centroid and setting each centroid to its
 * rows' normalised mean (a list left empty keeps its centroid). Returns `k × dimension` unit centroids.
 */
function kMeans(data: Float32Array, n: number, dimension: number, k: number): Float32Array {
  const random = seededRandom(SEED).next;
  const centroids = new Float32Array(k * dimension);
  // k-means++: each next centroid drawn with probability proportional to its distance (1 − cos,
  // of unit vectors half the squared distance) from the nearest centroid so far.
  const far = new Float64Array(n).fill(Infinity);
  let pick = Math.floor(random() * n);
  for (let c = 0; c < k; c++) {
    centroids.set(data.subarray(pick * dimension, (pick + 1) * dimension), c * dimension);
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = Math.max(0, 1 - dot(data, i * dimension, centroids, c * dimension, dimension));
      if (d < (far[i] as number)) far[i] = d;
      total += far[i] as number;
    }
    if (total === 0) return centroids.slice(0, (c + 1) * dimension); // fewer distinct rows than lists
    let target = random() * total;
    pick = n - 1;
    for (let i = 0; i < n; i++) {
      target -= far[i] as number;
      if (target < 0) {
        pick = i;
        break;
      }
    }
  }
  const sums = new Float64Array(k * dimension);
  for (let round = 0; round < ITERATIONS; round++) {
    sums.fill(0);
    for (let i = 0; i < n; i++) {
      const c = nearest(centroids, k, dimension, data, i * dimension);
      for (let d = 0; d < dimension; d++) sums[c * dimension + d] = (sums[c * dimension + d] as number) + (data[i * dimension + d] as number);
    }
    for (let c = 0; c < k; c++) {
      let norm = 0;
      for (let d = 0; d < dimension; d++) norm += (sums[c * dimension + d] as number) ** 2;
      if (norm === 0) continue;
      const scale = 1 / Math.sqrt(norm);
      for (let d = 0; d < dimension; d++) centroids[c * dimension + d] = (sums[c * dimension + d] as number) * scale;
    }
  }
  return centroids;
}
