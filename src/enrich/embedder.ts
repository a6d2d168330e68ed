/**
 * The embedding interface shared by enrichment (which stores embeddings) and the vector index
 * (which embeds controls and queries). Implementations: the deterministic hashing embedder (the
 * default, no network), GloVe word vectors (NFR_EMBEDDER=glove, no network) and an
 * OpenAI-compatible `/v1/embeddings` client (EMBEDDINGS_URL).
 */
export type Distance = 'Cosine' | 'Dot' | 'Euclid';

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
