/** Delete: the directory leaves the catalog in one rename, then its files are removed. */
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir } from '../util/fs.js';
import type { SnapshotId } from './ids.js';
import { withOperation } from '../runtime/operation.js';
import { recordEvent } from './state.js';
import { snapshotDir } from './store.js';
import { type Context, type SnapshotStore } from '../runtime/context.js';
import { loadSnapshot } from './verify.js';
import { coolLocked } from './warm-copies.js';

export interface DeleteResult {
  readonly id: string;
  readonly name: string;
  readonly freed_bytes: number;
}

/** Deletes a snapshot (and its warm copy). Runs under the operation lock, so never while it is being restored. */
export async function deleteSnapshot(ctx: Context, id: SnapshotId): Promise<DeleteResult> {
  return withOperation(ctx, 'delete', id, async (op) => {
    const { manifest } = await loadSnapshot(ctx.store, id);
    // Cooled first: a kill in between leaves a snapshot that is simply not warm.
    await coolLocked(ctx, op.maint, id);
    await removeSnapshotDir(ctx.store, id);
    await recordEvent(ctx.store, { operation: 'delete', status: 'completed', snapshot_id: id });
    return { id, name: manifest.name, freed_bytes: manifest.total_bytes };
  });
}

/** Moves the snapshot out of the catalog atomically, then deletes its files. Call under the lock. */
export async function removeSnapshotDir(store: SnapshotStore, id: SnapshotId): Promise<void> {
  const trash = path.join(store.trashDir, `${id}@${Date.now()}`);
  await rename(snapshotDir(store, id), trash);
  await fsyncDir(store.root);
  await rm(trash, { recursive: true, force: true });
}
