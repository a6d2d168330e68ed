/**
 * The catalog: the completed snapshot directories and their manifests. It lives on disk beside
 * the archives, not in the database, so restoring an old snapshot never hides newer ones.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { isSnapshotId, type SnapshotId } from './ids.js';
import { readManifest, summarize, type Manifest, type SnapshotSummary } from './manifest.js';
import type { SnapshotStore } from '../runtime/context.js';
import { readAllWarmCopies } from './warm-copies.js';

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

/** The catalog as `list` shows it: completed snapshots with their warm copies, and damaged directories. */
export async function catalogSummaries(store: SnapshotStore): Promise<{ snapshots: SnapshotSummary[]; damaged: { id: string; problem: string | null }[] }> {
  const [entries, warm] = await Promise.all([listCatalog(store), readAllWarmCopies(store)]);
  return {
    snapshots: entries.flatMap((e) => (e.manifest ? [summarize(e.manifest, warm.get(e.manifest.id))] : [])),
    damaged: entries.filter((e) => !e.manifest).map((e) => ({ id: e.id, problem: e.problem })),
  };
}
