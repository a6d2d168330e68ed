/**
 * `nfr index --check`: compares PostgreSQL and the index by id set and hashes, not by count.
 *   missing  a current control with no point
 *   stale    a point whose text hash (or payload: status, owner, themes) differs from the control's
 *   orphan   a point whose control is not current (closed, or never existed)
 * Read-only; it takes no lock.
 */
import type pg from 'pg';
import type { Config } from '../config.js';
import { createEmbedder } from '../enrich/create-embedder.js';
import type { Embedder } from '../enrich/embedder.js';
import { NfrError } from '../errors.js';
import { connect, inSnapshot, resolveTarget } from '../postgres/connection.js';
import { prepareSchema } from '../postgres/migrate.js';
import { openIndex } from './open-index.js';
import { currentControls, pgSignature } from './pg-source.js';
import type { IndexDescription, VectorIndex } from './types.js';
import type { z } from 'zod';
import type { checkListSchema, indexCheckSchema, staleListSchema } from './shapes.js';

/** At most this many ids of each kind are listed; the counts are always exact. */
export const CHECK_SAMPLE = 100;

export type CheckList = z.infer<typeof checkListSchema>;

export type StaleList = z.infer<typeof staleListSchema>;

/** Defined once, in index/shapes.ts (the API's response schema is generated from it). */
export type CheckResult = z.infer<typeof indexCheckSchema>;

export interface CheckOptions {
  readonly embedder?: Embedder;
  readonly index?: VectorIndex;
}

/** Compares the configured index with the live database. */
export async function checkIndex(config: Config, options: CheckOptions = {}): Promise<CheckResult> {
  const target = await resolveTarget(config);
  const client = await connect(target, 'nfr index --check');
  const index = options.index ?? openIndex(config);
  try {
    await prepareSchema(client, target, { readOnly: true });
    return await checkWith(client, index, options.embedder ?? createEmbedder(config));
  } finally {
    await index.close();
    await client.end().catch(() => {});
  }
}

async function checkWith(client: pg.ClientBase, index: VectorIndex, embedder: Embedder): Promise<CheckResult> {
  const started = Date.now();
  const description: IndexDescription | undefined = await index.describe();
  const dimension = embedder.dimension > 0 ? embedder.dimension : null;
  let mismatch: string | null = null;
  if (description && (description.model !== embedder.model || description.distance !== embedder.distance || (dimension !== null && dimension !== description.dimension))) {
    mismatch = `the index was built with model "${description.model}" (dimension ${description.dimension}, ${description.distance}) but the embedder is "${embedder.model}" (dimension ${dimension ?? 'unknown'}, ${embedder.distance}); run \`nfr index --force\``;
  }
  const known = new Map<string, { text_hash: string; payload_hash: string }>();
  let points = 0;
  if (description) {
    try {
      for await (const batch of index.entries()) {
        for (const e of batch) known.set(e.control_id, { text_hash: e.text_hash, payload_hash: e.payload_hash });
        points += batch.length;
      }
    } catch (err) {
      // Damaged files (found after the last entry) of an index built by another model: the
      // mismatch is the report, and the same --force rebuild repairs both.
      if (mismatch === null || !(err instanceof NfrError && err.code === 'VERIFY_FAILED')) throw err;
    }
  }
  // The payload hash covers the model name, so it is computed with the index's model.
  const model = description?.model ?? embedder.model;
  const missing: CheckList = { count: 0, ids: [] };
  const stale: StaleList = { count: 0, ids: [] };
  let controls = 0;
  const signature = await inSnapshot(client, async () => {
    const sig = await pgSignature(client);
    for await (const batch of currentControls(client, model)) {
      controls += batch.length;
      for (const c of batch) {
        const point = known.get(c.control_id);
        known.delete(c.control_id);
        if (!point) add(missing, c.control_id);
        else if (point.text_hash !== c.payload.text_hash) addStale(stale, c.control_id, 'text');
        else if (point.payload_hash !== c.payload.payload_hash) addStale(stale, c.control_id, 'payload');
      }
    }
    return sig;
  });
  const orphan: CheckList = { count: known.size, ids: [...known.keys()].sort().slice(0, CHECK_SAMPLE) };

  return {
    ok: description !== undefined && mismatch === null && missing.count === 0 && stale.count === 0 && orphan.count === 0,
    backend: index.kind,
    location: index.location,
    index_exists: description !== undefined,
    index_model: description ? { model: description.model, dimension: description.dimension, distance: description.distance } : null,
    embedder_model: { model: embedder.model, dimension, distance: embedder.distance },
    model_mismatch: mismatch,
    controls,
    points,
    up_to_date_signature: description?.source_signature === signature,
    missing,
    stale,
    orphan,
    duration_ms: Date.now() - started,
  };
}

function add(list: CheckList, id: string): void {
  list.count++;
  if (list.ids.length < CHECK_SAMPLE) list.ids.push(id);
}

function addStale(list: StaleList, id: string, reason: 'text' | 'payload'): void {
  list.count++;
  if (list.ids.length < CHECK_SAMPLE) list.ids.push({ control_id: id, reason });
}
