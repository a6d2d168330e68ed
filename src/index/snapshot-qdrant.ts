/**
 * Qdrant's part of a full snapshot: the collection snapshot file Qdrant makes. On restore it is
 * uploaded into a new collection before the database swap and made live by moving the alias after
 * it; the replaced collection stays as the previous one for undo (the steps and their crash
 * journal: qdrant-snapshot.ts). The Qdrant client is loaded only when a method needs it.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { NfrError, toNfrError } from '../errors.js';
import { discardStagedDir, stagedDirLeftovers } from '../util/dir-swap.js';
import { pathExists } from '../util/fs.js';
import type { QdrantCollections } from './qdrant-collections.js';
import type { StagedCollection } from './qdrant-snapshot.js';
import type { CapturedIndex, DiscardedIndex, IndexSnapshots, StagedIndex, StageRequest } from './snapshot.js';

/** The journal of a restore's Qdrant collections until they are live, in the store's state directory. */
export const QDRANT_JOURNAL = 'qdrant-restore.json';
/**
 * The staged copies beside the live index directory and a Qdrant restore journal (whichever
 * backend is configured now: an embedded configuration must not overlook what a Qdrant one left).
 */
export async function indexLeftovers(indexPath: string, stateDir: string): Promise<string[]> {
  const found = await stagedDirLeftovers(indexPath);
  const journal = path.join(stateDir, QDRANT_JOURNAL);
  if (await pathExists(journal)) found.push(journal);
  return found;
}

/** The collection snapshot file, in the snapshot's index directory. */
const SNAPSHOT_FILE = 'qdrant-collection.snapshot';

interface StagedQdrant extends StagedIndex {
  readonly backend: 'qdrant';
  readonly collection: StagedCollection;
}

export class QdrantIndexSnapshots implements IndexSnapshots {
  readonly backend = 'qdrant' as const;
  private readonly journal: string;

  constructor(
    private readonly config: Config,
    private readonly options: NonNullable<Config['qdrant']>,
    private readonly stateDir: string,
  ) {
    this.journal = path.join(stateDir, QDRANT_JOURNAL);
  }

  async capture(dir: string): Promise<CapturedIndex | null> {
    const [q, { captureCollection }] = await Promise.all([this.collections(), import('./qdrant-snapshot.js')]);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const captured = await captureCollection(q, path.join(dir, SNAPSHOT_FILE));
    if (!captured) return null; // no index built yet
    const { model, dimension, distance, points, collection } = captured;
    return { backend: 'qdrant', model, dimension, distance, points, collection, file: SNAPSHOT_FILE };
  }

  async stage(request: StageRequest): Promise<StagedIndex> {
    const { captured } = request;
    const file = captured.file ?? SNAPSHOT_FILE;
    const entry = request.fileEntry(file);
    if (!entry) throw new NfrError('VERIFY_FAILED', `manifest of ${request.snapshotId} lists no index/${file}, the Qdrant collection snapshot it says it contains`);
    const [q, { stageCollection }] = await Promise.all([this.collections(), import('./qdrant-snapshot.js')]);
    const collection = await stageCollection(q, this.journal, path.join(request.dir, file), {
      model: captured.model,
      dimension: captured.dimension,
      distance: captured.distance,
      points: captured.points,
      size: entry.size,
      sha256: entry.sha256,
    });
    const staged: StagedQdrant = { backend: 'qdrant', collection };
    return staged;
  }

  async switchLive(staged: StagedIndex): Promise<void> {
    const { collection } = staged as StagedQdrant;
    const [q, { switchCollection }] = await Promise.all([this.collections(), import('./qdrant-snapshot.js')]);
    try {
      await switchCollection(q, this.journal, collection);
    } catch (err) {
      const e = toNfrError(err);
      throw new NfrError(e.code, `the database and ingested files were swapped, but making Qdrant collection ${collection.collection} live failed: ${e.message}. The next nfr snapshot command (e.g. \`nfr snapshot status\`) completes the switch`, { cause: err });
    }
  }

  async forgetPrevious(): Promise<void> {
    const [q, { forgetPrevious }] = await Promise.all([this.collections(), import('./qdrant-snapshot.js')]);
    await forgetPrevious(q);
  }

  async checkReachable(): Promise<void> {
    await (await this.collections()).state();
  }

  async exchangePrevious(): Promise<boolean> {
    const [q, { exchangePrevious }] = await Promise.all([this.collections(), import('./qdrant-snapshot.js')]);
    return exchangePrevious(q);
  }

  async discard(): Promise<DiscardedIndex> {
    await discardStagedDir(this.config.indexPath);
    // Only a restore that staged a collection leaves a journal: other operations never ask Qdrant.
    if (!(await pathExists(this.journal))) return { dropped_collections: [], completed_index_switch: false };
    const [q, { discardStagedCollections }] = await Promise.all([this.collections(), import('./qdrant-snapshot.js')]);
    const r = await discardStagedCollections(q, this.journal);
    return { dropped_collections: r.dropped, completed_index_switch: r.completed_switch };
  }

  leftovers(): Promise<string[]> {
    return indexLeftovers(this.config.indexPath, this.stateDir);
  }

  describeDiscarded(discarded: DiscardedIndex): string | undefined {
    if (discarded.completed_index_switch) return 'a full restore was interrupted after its database swap; its Qdrant collection was made live';
    if (discarded.dropped_collections.length > 0) return `a full restore was interrupted before its database swap; its Qdrant collections were deleted: ${discarded.dropped_collections.join(', ')}`;
    return undefined;
  }

  describeDiscardFailure(message: string): string {
    return `could not clean up the Qdrant collections of an unfinished restore: ${message}`;
  }

  /** The backend's collections, loaded on demand (most commands never need the client). */
  private async collections(): Promise<QdrantCollections> {
    const { QdrantCollections } = await import('./qdrant-collections.js');
    return new QdrantCollections(this.options);
  }
}
