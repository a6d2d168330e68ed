/**
 * The embedded index's live generation held in memory, for a long-running process (`nfr serve`):
 * a search is then one pass over a Float32Array instead of reading `vectors.f32` and
 * `points.jsonl` from disk. Exact, like the streamed search: the same scores, the same ties.
 *
 * One resident generation per index directory, shared by every request. Each search reads
 * `CURRENT` (as the streamed search does); when it names another generation, that one is loaded
 * (once, however many requests ask at the same time) and replaces the old, which is freed when
 * the last search using it ends. Memory: the vectors (dimension × 4 bytes per control: 1.5 KiB at
 * 384 dimensions), a norm per control and the parsed payloads (~0.5 KiB per control): about
 * 200 MiB per 100,000 controls at 384 dimensions. A generation estimated larger than
 * NFR_INDEX_MEMORY_MB is not loaded; searches stream it from disk as the CLI does.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { POINTS_FILE, VECTORS_FILE, parsePayload, payloadLines, vectorChunks, type GenerationMeta } from './embedded-files.js';
import { cosine, dot, TopK } from './top-k.js';
import { matchesFilter, type PointPayload, type SearchFilter, type SearchHit } from './types.js';

/** Bytes a parsed payload takes in memory, estimated from its JSON line (strings, object, array). */
const PAYLOAD_OVERHEAD = 2;

export class ResidentGeneration {
  private constructor(
    readonly dir: string,
    readonly meta: GenerationMeta,
    private readonly vectors: Float32Array,
    /** Σ v² per row, summed as similarity() sums it, so the scores are the streamed search's to the bit. */
    private readonly squares: Float64Array,
    private readonly payloads: readonly PointPayload[],
    readonly bytes: number,
  ) {}

  /** Estimated memory of `dir`'s generation once loaded, from its file sizes. */
  static async estimate(dir: string): Promise<number> {
    const [v, p] = await Promise.all([stat(path.join(dir, VECTORS_FILE)), stat(path.join(dir, POINTS_FILE))]);
    return v.size + v.size / 96 + p.size * PAYLOAD_OVERHEAD;
  }

  static async load(dir: string, meta: GenerationMeta): Promise<ResidentGeneration> {
    const { dimension } = meta;
    const vectors = new Float32Array(meta.points * dimension);
    let rows = 0;
    for await (const chunk of vectorChunks(path.join(dir, VECTORS_FILE), dimension)) {
      if (chunk.first + chunk.rows > meta.points) break;
      vectors.set(chunk.data.subarray(0, chunk.rows * dimension), chunk.first * dimension);
      rows = chunk.first + chunk.rows;
    }
    const squares = new Float64Array(rows);
    for (let r = 0; r < rows; r++) squares[r] = dot(vectors, r * dimension, vectors, r * dimension, dimension);
    const file = path.join(dir, POINTS_FILE);
    const payloads: PointPayload[] = [];
    for await (const line of payloadLines(file)) {
      if (payloads.length >= rows) break;
      payloads.push(parsePayload(line, file, payloads.length));
    }
    const count = Math.min(rows, payloads.length);
    return new ResidentGeneration(dir, meta, vectors.subarray(0, count * dimension), squares.subarray(0, count), payloads.slice(0, count), await ResidentGeneration.estimate(dir));
  }

  get points(): number {
    return this.payloads.length;
  }

  /** The `limit` best rows passing `filter`, scored as similarity() scores them. */
  search(query: Float32Array, limit: number, filter: SearchFilter | undefined): SearchHit[] {
    const { dimension, distance } = this.meta;
    const v = this.vectors;
    const top = new TopK(limit);
    const qq = dot(query, 0, query, 0, dimension);
    const cosineDistance = distance === 'Cosine';
    for (let r = 0; r < this.payloads.length; r++) {
      if (filter && !matchesFilter(this.payloads[r] as PointPayload, filter)) continue;
      const base = r * dimension;
      let score: number;
      if (distance === 'Euclid') {
        let sum = 0;
        for (let i = 0; i < dimension; i++) {
          const d = (query[i] as number) - (v[base + i] as number);
          sum += d * d;
        }
        score = -Math.sqrt(sum);
      } else {
        const qv = dot(query, 0, v, base, dimension);
        score = cosineDistance ? cosine(qv, qq, this.squares[r] as number) : qv;
      }
      top.offer(r, score);
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
