/**
 * The catalog: the completed snapshot directories and their manifests. It lives on disk beside
 * the archives, not in the database, so restoring an old snapshot never hides newer ones.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { isSnapshotId, type SnapshotId } from './ids.js';
import { readManifest, type Manifest } from './manifest.js';
import type { SnapshotStore } from './store.js';

export interface CatalogEntry {
  readonly id: SnapshotId;
  readonly manifest: Manifest | null;
  /** Why the manifest could not be read, for a snapshot directory that is damaged. */
  readonly problem: string | null;
}

/** Every snapshot directory, oldest first. Damaged ones are listed with their problem. */
export async function listCatalog(store: SnapshotStore): Promise<CatalogEntry[]> {
  const names = (await readdir(store.root).catch(() => [] as string[])).filter(isSnapshotId).sort(compareIds);
  const out: CatalogEntry[] = [];
  for (const id of names) {
    try {
      out.push({ id, manifest: await readManifest(path.join(store.root, id)), problem: null });
    } catch (err) {
      out.push({ id, manifest: null, problem: messageOf(err) });
    }
  }
  return out;
}

/** Completed snapshots with a readable manifest, oldest first. */
export async function completedSnapshots(store: SnapshotStore): Promise<Manifest[]> {
  return (await listCatalog(store)).flatMap((e) => (e.manifest ? [e.manifest] : []));
}

/** Orders ids by year then number (SNAP-2026-10000 after SNAP-2026-9999). */
export function compareIds(a: string, b: string): number {
  const [, ya = '', na = ''] = a.split('-');
  const [, yb = '', nb = ''] = b.split('-');
  return Number(ya) - Number(yb) || Number(na) - Number(nb);
}
