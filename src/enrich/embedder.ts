/**
 * The embedding interface shared by enrichment (which stores embeddings) and the vector index
 * (which embeds controls and queries). Implementations: GloVe word vectors (the default, no
 * network), the deterministic hashing embedder (NFR_EMBEDDER=hash, no network) and an
 * OpenAI-compatible `/v1/embeddings` client (EMBEDDINGS_URL).
 */
export const DISTANCES = ['Cosine', 'Dot', 'Euclid'] as const;
export type Distance = (typeof DISTANCES)[number];

export interface Embedder {
  /** Model name recorded with every vector and checked against the index. */
  readonly model: string;
  readonly dimension: number;
  readonly distance: Distance;
  /** Embeds texts in order; vectors are unit length for Cosine. */
  embed(texts: readonly string[]): Promise<Float32Array[]>;
  /** Loads what the first embed would (a long-running server calls it when it starts). */
  warm?(): Promise<void>;
}

/** `acc` scaled to unit length as float32, summing the squares in order; all zeros stays zeros. */
export function unitVector(acc: Float64Array): Float32Array {
  let norm = 0;
  for (const v of acc) norm += v * v;
  norm = Math.sqrt(norm);
  const out = new Float32Array(acc.length);
  if (norm === 0) return out;
  for (let i = 0; i < acc.length; i++) out[i] = (acc[i] as number) / norm;
  return out;
}
