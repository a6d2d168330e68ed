/**
 * The catalog: the completed snapshot directories and their manifests. It lives on disk beside
 * the archives, not in the database, so restoring an old snapshot never hides newer ones.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { messageOf } from '../errors.js';
import { isSnapshotId, type SnapshotId } from './ids.js';
import { readSnapshotManifest, summarize, type Manifest, type SnapshotSummary } from './manifest.js';
import { backupPathError, type SnapshotStore } from '../runtime/context.js';
import { readAllWarmCopies } from './warm-copies.js';
import { offsiteRepository, type OffsiteRepository } from './offsite/repository.js';
import type { Config } from '../config.js';
import type { z } from 'zod';
import type { catalogPlacesSchema, snapshotListSchema } from './shapes.js';

export interface CatalogEntry {
  readonly id: SnapshotId;
  readonly manifest: Manifest | null;
  /** Why the manifest could not be read, for a snapshot directory that is damaged. */
  readonly problem: string | null;
}

/** Every snapshot directory, oldest first. Damaged ones are listed with their problem. */
export async function listCatalog(store: SnapshotStore): Promise<CatalogEntry[]> {
  // No repository yet is an empty catalog; a file in its place is not (it would hide every snapshot).
  const names = (await readdir(store.root).catch((err: unknown) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [] as string[];
    throw backupPathError(store.root, err);
  })).filter(isSnapshotId).sort(compareIds);
  const out: CatalogEntry[] = [];
  for (const id of names) {
    try {
      // A directory copied or renamed by hand holds another snapshot's manifest: listed under its
      // own id as damaged, or the snapshot would show twice and prune, which deletes by id, would
      // delete the real one.
      out.push({ id, manifest: await readSnapshotManifest(path.join(store.root, id), id), problem: null });
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

/** Where the catalog's snapshots are kept; `error` says why the offsite side could not be read. */
/** Defined once, in snapshot/shapes.ts (the list's response schema is generated from it). */
export type CatalogPlaces = Readonly<z.infer<typeof catalogPlacesSchema>>;

/**
 * The catalog as `list` shows it: completed snapshots in either place (local directory, offsite
 * repository) with where each is and its warm copy, and damaged directories. An offsite
 * repository that cannot be read does not hide the local snapshots: they are listed, and
 * `offsite.error` says why their offsite side is unknown.
 */
export async function catalogSummaries(
  store: SnapshotStore,
  config: Config,
): Promise<z.infer<typeof snapshotListSchema>> {
  const repo: OffsiteRepository = offsiteRepository(config);
  const [entries, warm, remote] = await Promise.all([
    listCatalog(store),
    readAllWarmCopies(store),
    repo.ids().then(
      (ids) => ({ ids, error: null }),
      (err: unknown) => ({ ids: new Set<SnapshotId>(), error: messageOf(err) }),
    ),
  ]);
  const local = entries.flatMap((e) => (e.manifest ? [summarize(e.manifest, warm.get(e.manifest.id))] : []));
  const localIds = new Set(entries.map((e) => e.id));
  const offsiteOnly: (SnapshotSummary & { location: 'offsite' })[] = [];
  for (const id of [...remote.ids].filter((i) => !localIds.has(i)).sort(compareIds)) {
    const found = await repo.get(id).catch(() => undefined);
    if (found) offsiteOnly.push({ ...summarize(found.manifest), location: 'offsite' });
  }
  return {
    snapshots: [...local.map((s) => ({ ...s, location: remote.ids.has(s.id as SnapshotId) ? ('both' as const) : ('local' as const) })), ...offsiteOnly].sort((a, b) => compareIds(a.id, b.id)),
    damaged: entries.filter((e) => !e.manifest).map((e) => ({ id: e.id, problem: e.problem })),
    offsite: { repository: repo.description, error: remote.error },
  };
}
