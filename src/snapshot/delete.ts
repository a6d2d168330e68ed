/** Delete: the directory leaves the catalog in one rename, then its files are removed. */
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { NfrError } from '../errors.js';
import { directorySize, fsyncDir } from '../util/fs.js';
import type { SnapshotId } from './ids.js';
import { withOperation } from '../runtime/operation.js';
import { recordEvent } from './state.js';
import { snapshotDir } from './store.js';
import { type Context, type SnapshotStore } from '../runtime/context.js';
import { coolLocked } from './warm-copies.js';
import { findManifest, type Location } from './offsite/find.js';
import type { Manifest } from './manifest.js';
import { offsiteRepository } from './offsite/repository.js';
import { pathExists } from '../util/fs.js';
import type pg from 'pg';
import { forgetVerification } from './verifications.js';
import type { z } from 'zod';
import type { deleteResultSchema } from './shapes.js';

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type DeleteResult = z.infer<typeof deleteResultSchema>;

/**
 * Deletes a snapshot everywhere: its warm copy, its offsite copy and its local directory. Runs
 * under the operation lock, so never while it is being restored.
 */
export async function deleteSnapshot(ctx: Context, id: SnapshotId): Promise<DeleteResult> {
  return withOperation(ctx, 'delete', id, async (op) => {
    const found = await findDeletable(ctx, id);
    await removeEverywhere(ctx, op.maint, id);
    await recordEvent(ctx.store, { operation: 'delete', status: 'completed', snapshot_id: id, ...('damaged' in found ? { details: { damaged: found.damaged } } : {}) });
    if ('damaged' in found) return { id, name: '', freed_bytes: found.bytes, damaged: found.damaged };
    return { id, name: found.manifest.name, freed_bytes: found.manifest.total_bytes };
  });
}

/**
 * What a delete of `id` removes: the snapshot as findManifest finds it, or a directory whose
 * manifest cannot be read (listed under `damaged`), which is deleted too, so that nobody removes
 * it by hand. Anything else (not found, the bucket failing) is thrown. The CLI asks its question
 * from the same answer.
 */
export async function findDeletable(ctx: Pick<Context, 'config' | 'store'>, id: SnapshotId): Promise<{ manifest: Manifest; location: Location } | { damaged: string; bytes: number }> {
  return findManifest(ctx, id).catch(async (err: unknown) => {
    const dir = snapshotDir(ctx.store, id);
    // VERIFY_FAILED: a manifest that cannot be read; NOT_FOUND with the directory there: no
    // manifest at all. Both are listed under `damaged`, so both can be deleted.
    if (!(err instanceof NfrError && (err.code === 'VERIFY_FAILED' || err.code === 'NOT_FOUND') && (await pathExists(dir)))) throw err;
    return { damaged: err.message, bytes: await directorySize(dir) };
  });
}

/**
 * Removes every copy of a snapshot; call under the lock. Cooled first: a kill in between leaves
 * a snapshot that is simply not warm. Then the offsite copy: should the bucket fail, the local
 * copy is still there and the delete can be retried, where the other order would leave the
 * snapshot deleted here and still listed (and restorable) from the bucket.
 */
export async function removeEverywhere(ctx: Context, maint: pg.ClientBase, id: SnapshotId): Promise<void> {
  await coolLocked(ctx, maint, id);
  await offsiteRepository(ctx.config).remove(id);
  if (await pathExists(snapshotDir(ctx.store, id))) await removeSnapshotDir(ctx.store, id);
}

/** Moves the snapshot out of the catalog atomically, then deletes its files. Call under the lock. */
export async function removeSnapshotDir(store: SnapshotStore, id: SnapshotId): Promise<void> {
  const trash = path.join(store.trashDir, `${id}@${Date.now()}`);
  await rename(snapshotDir(store, id), trash);
  await fsyncDir(store.root);
  await rm(trash, { recursive: true, force: true });
  await forgetVerification(store, id);
}
