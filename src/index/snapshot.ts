/**
 * The vector index's part of a full snapshot, one interface for every backend: capture the live
 * index into a snapshot, stage a snapshot's index beside the live one, switch it live keeping the
 * replaced one for undo, exchange the two (undo), and discard what an unfinished restore staged.
 * The backend is chosen here, once, from the configuration; the snapshot layer never asks which.
 */
import type { Config } from '../config.js';
import { EmbeddedIndexSnapshots } from './snapshot-embedded.js';
import { QdrantIndexSnapshots } from './snapshot-qdrant.js';
import type { IndexModel } from './types.js';

export const INDEX_BACKENDS = ['embedded', 'qdrant'] as const;
export type IndexBackend = (typeof INDEX_BACKENDS)[number];

/** What a snapshot records of the index it captured. */
export interface CapturedIndex extends IndexModel {
  readonly backend: IndexBackend;
  readonly points: number;
  /** Qdrant: the physical collection the snapshot was taken of. */
  readonly collection?: string | undefined;
  /** A single file holding the index, relative to the capture directory. */
  readonly file?: string | undefined;
}

/** A file of the snapshot, as its manifest checksums it. */
export interface SnapshotFileEntry {
  readonly size: number;
  readonly sha256: string;
}

export interface StageRequest {
  /** The snapshot's index directory (what capture wrote). */
  readonly dir: string;
  readonly captured: CapturedIndex;
  /** The snapshot's id, for messages. */
  readonly snapshotId: string;
  /** The manifest's entry for a file of `dir` (path relative to it), if it lists one. */
  readonly fileEntry: (relative: string) => SnapshotFileEntry | undefined;
}

/** A staged index, made live by `switchLive` (opaque to callers). */
export interface StagedIndex {
  readonly backend: IndexBackend;
}

export interface DiscardedIndex {
  /** Qdrant collections of an unfinished restore that were deleted. */
  readonly dropped_collections: string[];
  /** A restore killed after its database swap had its index switch completed. */
  readonly completed_index_switch: boolean;
}

export interface IndexSnapshots {
  readonly backend: IndexBackend;
  /** Copies the live index into `dir`; null when no index has been built yet. Call under the operation lock. */
  capture(dir: string): Promise<CapturedIndex | null>;
  /** Prepares the snapshot's index beside the live one; nothing live changes. */
  stage(request: StageRequest): Promise<StagedIndex>;
  /** Makes the staged index live; the replaced one is kept for undo. */
  switchLive(staged: StagedIndex): Promise<void>;
  /** A restore keeps the live index: the one an earlier restore replaced must not come back with an undo of this one. */
  forgetPrevious(): Promise<void>;
  /** Fails unless the backend answers (before an undo swaps the database back). */
  checkReachable(): Promise<void>;
  /** Exchanges the live index with the one the last restore replaced (undo); false if there is none. */
  exchangePrevious(): Promise<boolean>;
  /** Removes what an unfinished restore staged (or completes the switch of one killed after its database swap). */
  discard(): Promise<DiscardedIndex>;
  /** What `discard` would remove, described for people (paths of staged copies, a crash journal); reads only. */
  leftovers(): Promise<string[]>;
  /** The event-log line for what `discard` did, in the backend's words; undefined when it did nothing worth recording. */
  describeDiscarded(discarded: DiscardedIndex): string | undefined;
  /** The event-log line when `discard` failed (the backend may be unreachable), given the failure's message. */
  describeDiscardFailure(message: string): string;
}

/**
 * The configured backend's snapshot part. `stateDir` holds what must survive a crash (the Qdrant
 * restore journal). Construction does no I/O and loads no backend client.
 */
export function indexSnapshots(config: Config, stateDir: string): IndexSnapshots {
  return config.qdrant ? new QdrantIndexSnapshots(config, config.qdrant, stateDir) : new EmbeddedIndexSnapshots(config.indexPath, stateDir);
}

/** Why a snapshot's index cannot be restored with this configuration's backend, if it cannot. */
export function backendMismatch(config: Config, snapshotBackend: IndexBackend): string | undefined {
  const configured: IndexBackend = config.qdrant ? 'qdrant' : 'embedded';
  if (snapshotBackend === configured) return undefined;
  const name = (b: IndexBackend) => (b === 'qdrant' ? 'a Qdrant collection' : 'the embedded index');
  return `the snapshot's vector index is ${name(snapshotBackend)} but this configuration uses ${name(configured)}${config.qdrant ? ' (QDRANT_URL is set)' : ' (QDRANT_URL is not set)'}; restore it with the configuration it was taken with`;
}
