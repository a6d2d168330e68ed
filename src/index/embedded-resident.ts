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
 * the last search using it ends. Memory: the vectors (dimension × 4 bytes per control: 1.5 KiB at
 * 384 dimensions), a norm per control and the parsed payloads (~0.5 KiB per control): about
 * 240 MiB per 100,000 controls at 384 dimensions. A generation estimated larger than NFR_INDEX_MEMORY_MB is not loaded; searches
 * stream it from disk as the CLI does.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { POINTS_FILE, VECTORS_FILE, parsePayload, payloadLines, vectorChunks, type GenerationMeta } from './embedded-files.js';
import { columnStore, type ColumnStore } from './column-kernel.js';
import { cosine, dot, TopK } from './top-k.js';
import { matchesFilter, type PointPayload, type SearchFilter, type SearchHit } from './types.js';

/** Bytes a parsed payload takes in memory, estimated from its JSON line (strings, object, array). */
const PAYLOAD_OVERHEAD = 2;

export class ResidentGeneration {
  private constructor(
    readonly dir: string,
    readonly meta: GenerationMeta,
    /**
     * Dimension d of control r at d × stride + r, Σ v² per control (summed as similarity() sums
     * it), and the four running sums of the search in progress (searches run one at a time).
     */
    private readonly store: ColumnStore,
    private readonly payloads: readonly PointPayload[],
    readonly bytes: number,
  ) {}

  /** Estimated memory of `dir`'s generation once loaded, from its file sizes. */
  static async estimate(dir: string): Promise<number> {
    const [v, p] = await Promise.all([stat(path.join(dir, VECTORS_FILE)), stat(path.join(dir, POINTS_FILE))]);
    // The vectors, and per row a float64 norm: 8 bytes, 1/192 of a row of 384 float32 values
    // (estimated for that dimension; the payloads dominate the error anyway). The sums are one block.
    return v.size + v.size / 192 + p.size * PAYLOAD_OVERHEAD;
  }

  static async load(dir: string, meta: GenerationMeta): Promise<ResidentGeneration> {
    const { dimension, points } = meta;
    const store = columnStore(points, dimension);
    const { columns, stride, squares } = store;
    let rows = 0;
    for await (const chunk of vectorChunks(path.join(dir, VECTORS_FILE), dimension)) {
      if (chunk.first + chunk.rows > points) break;
      const data = chunk.data;
      for (let i = 0; i < chunk.rows; i++) {
        const r = chunk.first + i;
        const base = i * dimension;
        squares[r] = dot(data, base, data, base, dimension);
        for (let d = 0; d < dimension; d++) columns[d * stride + r] = data[base + d] as number;
      }
      rows = chunk.first + chunk.rows;
    }
    const file = path.join(dir, POINTS_FILE);
    const payloads: PointPayload[] = [];
    for await (const line of payloadLines(file)) {
      if (payloads.length >= rows) break;
      payloads.push(parsePayload(line, file, payloads.length));
    }
    const count = Math.min(rows, payloads.length);
    return new ResidentGeneration(dir, meta, store, payloads.slice(0, count), await ResidentGeneration.estimate(dir));
  }

  get points(): number {
    return this.payloads.length;
  }

  /** The `limit` best rows passing `filter`, scored as similarity() scores them. */
  search(query: Float32Array, limit: number, filter: SearchFilter | undefined): SearchHit[] {
    const { dimension, distance } = this.meta;
    const n = this.payloads.length;
    const { columns, stride, sums } = this.store;
    const [s0, s1, s2, s3] = sums;
    const block = s0.length;
    const qq = dot(query, 0, query, 0, dimension);
    const { payloads } = this;
    const { squares } = this.store;
    const euclid = distance === 'Euclid';
    const cosineDistance = distance === 'Cosine';
    // dot(): dimension d adds to sum d mod 4, except the tail past the last multiple of four,
    // which goes to the first sum.
    const main = dimension - (dimension % 4);
    const top = new TopK(limit);
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
          if (q !== 0) this.store.axpy(q, d, d >= main ? 0 : ((d & 3) as 0 | 1 | 2 | 3), first, count);
        }
      }
      // Cosine, the usual case, is computed in the store (SIMD) into the first sum, as cosine()
      // computes it; a zero vector's NaN there is cosine()'s 0.
      const scored = cosineDistance && qq !== 0;
      if (scored) this.store.cosines(qq, first, count);
      const end = Math.min(count, n - first);
      for (let i = 0; i < end; i++) {
        const r = first + i;
        let score: number;
        if (scored) {
          score = s0[i] as number;
          if (score !== score) score = 0;
        } else if (euclid) score = -Math.sqrt(s0[i] as number);
        else {
          const qv = (s0[i] as number) + (s1[i] as number) + (s2[i] as number) + (s3[i] as number);
          score = cosineDistance ? cosine(qv, qq, squares[r] as number) : qv;
        }
        if (score < floor || (filter && !matchesFilter(payloads[r] as PointPayload, filter))) continue;
        top.offer(r, score);
        floor = top.floor;
      }
    }
    return top.sorted().map(({ row, score }) => {
      const p = this.payloads[row] as PointPayload;
      return {
        control_id: p.control_id,
        title: p.title,
        status: p.status,
        // Euclid is ranked by negated distance; report the distance, as Qdrant does.
        score: distance === 'Euclid' ? -score : score,
        owning_function_id: p.owning_function_id,
        risk_theme_ids: p.risk_theme_ids,
        owning_location_id: p.owning_location_id,
        family_id: p.family_id,
        key_control: p.key_control,
      };
    });
  }
}

const resident = new Map<string, { dir: string; loading: Promise<ResidentGeneration | undefined> }>();

/**
 * The resident copy of the generation in `dir` (the live one of `location`), loading it if it is
 * not the one held; undefined when it is estimated larger than `maxBytes`.
 */
export async function residentGeneration(location: string, dir: string, meta: GenerationMeta, maxBytes: number): Promise<ResidentGeneration | undefined> {
  const held = resident.get(location);
  if (held?.dir === dir) return held.loading;
  const loading = (async () => ((await ResidentGeneration.estimate(dir)) > maxBytes ? undefined : ResidentGeneration.load(dir, meta)))();
  resident.set(location, { dir, loading });
  // A failed load (the generation was replaced meanwhile) is tried again by the next search.
  loading.catch(() => {
    if (resident.get(location)?.loading === loading) resident.delete(location);
  });
  return loading;
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
