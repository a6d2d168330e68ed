/**
 * `nfr index`: brings the vector index in line with the current controls in PostgreSQL.
 *
 * Incremental by default: a control whose (text hash, payload hash) equals its point's is left
 * alone; a new or changed one gets a vector (the one enrichment stored for the same text and
 * model, or a fresh embedding) and is upserted; a point whose control is no longer current is
 * deleted. `force` starts from an empty index. Runs under the operation lock, so it never overlaps
 * an ingestion, a snapshot or a restore.
 */
import type pg from 'pg';
import { NfrError } from '../errors.js';
import { createEmbedder } from '../enrich/create-embedder.js';
import type { Embedder } from '../enrich/embedder.js';
import { controlText } from '../ingest/text.js';
import { completeStage } from '../runtime/stage.js';
import { connect, inSnapshot } from '../postgres/connection.js';
import { prepareSchema } from '../postgres/migrate.js';
import { withOperation } from '../runtime/operation.js';
import type { Context } from '../runtime/context.js';
import { embedderModel, openIndex } from './open-index.js';
import { currentControls, pgSignature, storedEmbeddings, type SourceControl } from './pg-source.js';
import type { IndexModel, IndexPoint, VectorIndex } from './types.js';

export interface SyncOptions {
  /** Rebuild from an empty index (required after a model change). */
  readonly force?: boolean;
  /** Controls read and embedded per batch. */
  readonly batchSize?: number;
  /** Overrides for tests; default: from the configuration. */
  readonly embedder?: Embedder;
  readonly index?: VectorIndex;
}

export interface SyncResult {
  readonly backend: VectorIndex['kind'];
  readonly location: string;
  readonly model: IndexModel;
  readonly forced: boolean;
  /** Current controls in PostgreSQL. */
  readonly controls: number;
  /** Points in the index after the sync. */
  readonly points: number;
  readonly upserted: number;
  /** Vectors computed by the embedder. */
  readonly embedded: number;
  /** Vectors taken from ai_controls_embedding (same text hash, model and dimension). */
  readonly reused: number;
  readonly deleted: number;
  readonly unchanged: number;
  readonly duration_ms: number;
}

/** Syncs the configured index with the live database under the operation lock. */
export async function syncIndex(ctx: Context, options: SyncOptions = {}): Promise<SyncResult> {
  const config = ctx.config;
  return withOperation(ctx, 'ingest', null, async () => {
    const client = await connect(ctx.target, 'nfr index');
    const index = options.index ?? openIndex(config);
    try {
      await prepareSchema(client, ctx.target);
      const result = await syncIndexLocked(client, index, options.embedder ?? createEmbedder(config), options);
      await completeStage(client, 'indexed', { index_points: result.points });
      return result;
    } finally {
      await index.close();
      await client.end().catch(() => {});
    }
  });
}

/**
 * The sync itself, for callers that already hold the operation lock (a restore with --resync):
 * reads the live database through `client`, writes `index`. Does not record the pipeline stage.
 */
export async function syncIndexLocked(client: pg.ClientBase, index: VectorIndex, embedder: Embedder, options: Pick<SyncOptions, 'force' | 'batchSize'> = {}): Promise<SyncResult> {
  const started = Date.now();
  const forced = options.force === true;
  const model = await embedderModel(embedder);
  // begin() refuses a model mismatch before anything is read or written.
  const writer = await index.begin(model, { reset: forced });
  try {
    const known = new Map<string, { text_hash: string; payload_hash: string }>();
    if (!forced) for await (const batch of index.entries()) for (const e of batch) known.set(e.control_id, { text_hash: e.text_hash, payload_hash: e.payload_hash });

    let controls = 0;
    let upserted = 0;
    let embedded = 0;
    let reused = 0;
    let unchanged = 0;
    const signature = await inSnapshot(client, async () => {
      const sig = await pgSignature(client);
      for await (const batch of currentControls(client, model.model, options.batchSize)) {
        controls += batch.length;
        const changed: SourceControl[] = [];
        for (const c of batch) {
          const point = known.get(c.control_id);
          known.delete(c.control_id);
          if (point && point.text_hash === c.payload.text_hash && point.payload_hash === c.payload.payload_hash) unchanged++;
          else changed.push(c);
        }
        if (changed.length === 0) continue;
        const stored = await storedEmbeddings(client, changed.map((c) => c.payload), model.model, model.dimension);
        const toEmbed = changed.filter((c) => !stored.has(c.control_id));
        const fresh = toEmbed.length ? await embedder.embed(toEmbed.map((c) => controlText(c.title, c.description))) : [];
        toEmbed.forEach((c, i) => {
          stored.set(c.control_id, checkVector(fresh[i], model, c.control_id));
        });
        const points: IndexPoint[] = changed.map((c) => ({ vector: stored.get(c.control_id)!, payload: c.payload }));
        await writer.upsert(points);
        upserted += points.length;
        embedded += toEmbed.length;
        reused += changed.length - toEmbed.length;
      }
      return sig;
    });
    // What is left in `known` has no current control any more.
    const orphans = [...known.keys()];
    if (orphans.length) await writer.delete(orphans);
    const points = await writer.commit(signature);
    return { backend: index.kind, location: index.location, model, forced, controls, points, upserted, embedded, reused, deleted: orphans.length, unchanged, duration_ms: Date.now() - started };
  } catch (err) {
    await writer.abort().catch(() => {});
    throw err;
  }
}

function checkVector(v: Float32Array | undefined, model: IndexModel, controlId: string): Float32Array {
  if (!v || v.length !== model.dimension) {
    throw new NfrError('TOOL_FAILED', `embedder "${model.model}" returned ${v ? `a vector of dimension ${v.length}` : 'no vector'} for control ${controlId}, expected ${model.dimension}`);
  }
  return v;
}
