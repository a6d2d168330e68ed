/**
 * The deterministic local embedder: signed feature hashing of normalised tokens (see tokens.ts)
 * into 384 dimensions: unigrams plus half-weight bigrams, sublinear term frequency (1 + ln tf),
 * L2-normalised. No network and no model weights. The same text gives the same vector on every
 * machine and Node version: the hash is FNV-1a over UTF-8 bytes, features are summed in sorted
 * order in float64, and the only transcendental is Math.log of small integers (V8 computes it
 * with its own fdlibm port, not the platform libm). A test pins the bytes of one vector.
 *
 * It matches words, not meanings, so it finds "multi-factor authentication for privileged
 * accounts" but not paraphrases without shared words; an OpenAI-compatible model replaces it
 * when EMBEDDINGS_URL is set. Changing anything here changes stored vectors: rename the model.
 */
import { unitVector, type Distance, type Embedder } from './embedder.js';
import { tokens } from './tokens.js';

export const LOCAL_MODEL = 'nfr-local-hash-v1';
export const LOCAL_DIMENSION = 384;

/** Bigrams weigh less than unigrams: they sharpen phrase matches without dominating. */
const BIGRAM_WEIGHT = 0.5;

const encoder = new TextEncoder();
/**
 * Slots per feature. Two halve the damage of any single collision (each slot carries 1/√2 of
 * the weight after normalisation): on the NIST catalogue, family-level theme mapping went from
 * 199 to 219 of 370 controls correct at rank 1 against one slot, and spurious cross-family
 * neighbours dropped out of the top search results. Three or four did not help further.
 */
const HASHES = 2;

/** 32-bit FNV-1a of the UTF-8 bytes: stable, fast and independent of the platform. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Embeds one text; exported for tests and for callers that want a synchronous path. */
export function embedLocal(text: string, dimension = LOCAL_DIMENSION): Float32Array {
  const toks = tokens(text);
  const counts = new Map<string, number>();
  for (const t of toks) counts.set(t, (counts.get(t) ?? 0) + 1);
  const bigramCounts = new Map<string, number>();
  for (let i = 1; i < toks.length; i++) {
    const key = `${toks[i - 1] as string} ${toks[i] as string}`;
    bigramCounts.set(key, (bigramCounts.get(key) ?? 0) + 1);
  }
  const acc = new Float64Array(dimension);
  const add = (feature: string, weight: number) => {
    for (let k = 0; k < HASHES; k++) {
      const h = fnv1a(k === 0 ? feature : `${k}\u0000${feature}`);
      // The low bits choose the slot, one high bit the sign, so collisions cancel out on average.
      const slot = h % dimension;
      acc[slot] = (acc[slot] as number) + ((h & 0x80000000) !== 0 ? -weight : weight);
    }
  };
  // Sorted iteration: floating-point sums are order-dependent, and Map order follows the text.
  for (const [t, n] of [...counts].sort(byKey)) add(t, 1 + Math.log(n));
  for (const [b, n] of [...bigramCounts].sort(byKey)) add(b, BIGRAM_WEIGHT * (1 + Math.log(n)));
  return unitVector(acc);
}

function byKey(a: [string, number], b: [string, number]): number {
  return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0;
}

/** Embedder over {@link embedLocal}: model 'nfr-local-hash-v1', 384 dimensions, cosine. */
export class LocalEmbedder implements Embedder {
  readonly model = LOCAL_MODEL;
  readonly dimension = LOCAL_DIMENSION;
  readonly distance: Distance = 'Cosine';

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    return texts.map((t) => embedLocal(t, this.dimension));
  }
}
