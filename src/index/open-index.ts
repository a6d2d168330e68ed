/** Picks the index backend from the configuration: Qdrant when QDRANT_URL is set, else embedded. */
import type { Config } from '../config.js';
import type { Embedder } from '../enrich/embedder.js';
import { EmbeddedIndex } from './embedded.js';
import { QdrantIndex } from './qdrant.js';
import type { IndexModel, VectorIndex } from './types.js';

/**
 * The configured index. Construction does no I/O. `resident`: a long-running process keeps the
 * embedded index's live generation in memory (up to NFR_INDEX_MEMORY_MB).
 */
export function openIndex(config: Config, options: { readonly resident?: boolean } = {}): VectorIndex {
  if (config.qdrant) return new QdrantIndex(config.qdrant);
  return new EmbeddedIndex(config.indexPath, options.resident ? { residentMaxBytes: config.indexMemoryBytes } : {});
}

/**
 * The embedder's model, dimension and distance. An endpoint embedder may only learn its dimension
 * from its first answer, so it is asked to embed one probe text when it does not know it yet.
 */
export async function embedderModel(embedder: Embedder): Promise<IndexModel> {
  let dimension = embedder.dimension;
  if (!(dimension > 0)) {
    const [probe] = await embedder.embed(['dimension probe']);
    dimension = probe?.length ?? 0;
  }
  return { model: embedder.model, dimension, distance: embedder.distance };
}
