/**
 * What restoring a snapshot would do, worked out without changing anything: whether its schema
 * version lets it be restored (and whether `force` is needed, and why), what it brings back,
 * what it leaves for the derived stores, and what happens to the current undo. The console shows
 * this before the operator confirms, so nothing about a restore is a surprise.
 */
import { codeMigrations, codeSchemaHead } from '../postgres/migrate.js';
import type { SnapshotId } from './ids.js';
import { readLastRestore } from './state.js';
import type { Context } from '../runtime/context.js';
import { catalogManifest } from './offsite/find.js';
import type { z } from 'zod';
import type { restorePlanSchema } from './shapes.js';

export type SchemaRelation = RestorePlan['schema']['relation'];

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type RestorePlan = z.infer<typeof restorePlanSchema>;

/**
 * How a snapshot's schema version stands to the code's: `same`; `older` (a migration this code
 * has, or none at all: a database from before the first migration), restorable with force and
 * migrated to head; `newer` (unknown to this code), never restorable. Restore decides by this too.
 */
export function schemaRelation(snapshot: string | null): { code: string; relation: SchemaRelation } {
  const code = codeSchemaHead();
  if (snapshot === code) return { code, relation: 'same' };
  return { code, relation: snapshot === null || codeMigrations().includes(snapshot) ? 'older' : 'newer' };
}

export async function restorePlan(ctx: Context, id: SnapshotId): Promise<RestorePlan> {
  const { manifest } = await catalogManifest(ctx, id);
  const snap = manifest.database.schema_version;
  const { code, relation } = schemaRelation(snap);
  const explanation =
    relation === 'same'
      ? `The snapshot's schema ${snap} is the code's; it restores as it is.`
      : relation === 'older'
        ? `The snapshot has schema ${snap ?? '(none)'}, this code is at ${code}. Restoring it needs force: the restored copy is migrated to ${code} before it goes live, so the data comes back in the current schema.`
        : `The snapshot has schema ${snap ?? '(none)'}, which this version of nfr does not know (its head is ${code}). It cannot be restored here; use a newer nfr.`;
  const last = await readLastRestore(ctx.store, ctx.target.database);
  return {
    snapshot_id: manifest.id,
    name: manifest.name,
    kind: manifest.kind,
    pipeline_stage: manifest.pipeline_stage ?? null,
    contains: manifest.contains,
    schema: { snapshot: snap, code, relation, force_required: relation === 'older', restorable: relation !== 'newer', explanation },
    resync_offered: !manifest.contains.vector_index,
    replaces_undo: last !== undefined && !last.previous_dropped,
    rows: manifest.tables.reduce((n, t) => n + t.rows, 0),
    tables: manifest.tables.length,
    total_bytes: manifest.total_bytes,
  };
}
