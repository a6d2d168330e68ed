/** Exact nearest-neighbour scoring and a bounded min-heap of the best rows seen so far. */
import type { Distance } from '../enrich/embedder.js';

/**
 * Σ a[i]·b[i] over `n` values from the offsets, in four interleaved sums added at the end: a
 * quarter of the loop's dependency chain, about 30 % faster than one sum. Every score of the
 * embedded index is summed this way, streamed or resident, so they agree to the bit.
 */
export function dot(a: Float32Array, aOffset: number, b: Float32Array, bOffset: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += (a[aOffset + i] as number) * (b[bOffset + i] as number);
    s1 += (a[aOffset + i + 1] as number) * (b[bOffset + i + 1] as number);
    s2 += (a[aOffset + i + 2] as number) * (b[bOffset + i + 2] as number);
    s3 += (a[aOffset + i + 3] as number) * (b[bOffset + i + 3] as number);
  }
  for (; i < n; i++) s0 += (a[aOffset + i] as number) * (b[bOffset + i] as number);
  return s0 + s1 + s2 + s3;
}

/**
 * Similarity of `query` and the row at `offset` of `data`, higher is better: cosine similarity,
 * dot product, or the negated Euclidean distance.
 */
export function similarity(distance: Distance, query: Float32Array, data: Float32Array, offset: number): number {
  const n = query.length;
  if (distance === 'Euclid') {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const d = (query[i] as number) - (data[offset + i] as number);
      sum += d * d;
    }
    return -Math.sqrt(sum);
  }
  const qv = dot(query, 0, data, offset, n);
  if (distance === 'Dot') return qv;
  return cosine(qv, dot(query, 0, query, 0, n), dot(data, offset, data, offset, n));
}

/** Cosine similarity from the dot product and the two squared norms (0 for a zero vector). */
export function cosine(qv: number, qq: number, vv: number): number {
  return qq === 0 || vv === 0 ? 0 : qv / Math.sqrt(qq * vv);
}

/**
 * Keeps the k highest-scoring rows; ties keep the earlier row, so results are deterministic and
 * do not depend on the order rows are offered in.
 */
export class TopK {
  readonly #heap: { row: number; score: number }[] = [];
  constructor(readonly k: number) {}

  offer(row: number, score: number): void {
    const h = this.#heap;
    if (h.length < this.k) {
      h.push({ row, score });
      this.#up(h.length - 1);
      return;
    }
    const min = h[0];
    if (min !== undefined && (score > min.score || (score === min.score && row < min.row))) {
      h[0] = { row, score };
      this.#down(0);
    }
  }

  /** A score below this cannot enter (-Infinity until k rows are held): callers skip offer() for it. */
  get floor(): number {
    if (this.k <= 0) return Infinity;
    return this.#heap.length < this.k ? -Infinity : (this.#heap[0] as { score: number }).score;
  }

  /** Best first. */
  sorted(): { row: number; score: number }[] {
    return [...this.#heap].sort((a, b) => b.score - a.score || a.row - b.row);
  }

  /** Min-heap order: lower score first; on equal scores the later row is evicted first. */
  #less(i: number, j: number): boolean {
    const a = this.#heap[i] as { row: number; score: number };
    const b = this.#heap[j] as { row: number; score: number };
    return a.score < b.score || (a.score === b.score && a.row > b.row);
  }

  #swap(i: number, j: number): void {
    const h = this.#heap;
    [h[i], h[j]] = [h[j] as { row: number; score: number }, h[i] as { row: number; score: number }];
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.#less(l, m)) m = l;
      if (r < n && this.#less(r, m)) m = r;
      if (m === i) return;
      this.#swap(i, m);
      i = m;
    }
  }
}
