/**
 * The Qdrant part of a full snapshot, on Qdrant's collection snapshot API.
 *
 * Create: Qdrant snapshots the live physical collection, nfr downloads the file (hashing it as it
 * arrives and comparing with the checksum and size Qdrant reported) and deletes the server-side
 * copy — also when the download fails, so no snapshot is ever left on the server.
 *
 * Restore, in the same three steps as the embedded index:
 * 1. stage (before the PostgreSQL swap): upload the file into a new physical collection with
 *    priority=snapshot and its SHA-256 (Qdrant verifies it before recovering anything), delete the
 *    copy of the upload the server keeps among that collection's snapshots, and check its model,
 *    dimension, distance and point count against the manifest. Nothing live has changed.
 * 2. switch (after the swap): one atomic alias request makes it live and keeps the replaced
 *    collection as `<prefix>_controls_nfr_prev`; the collection that alias held before is deleted.
 * 3. undo exchanges the two aliases in one request.
 *
 * A journal file (in the snapshot store's state directory) names every collection a restore
 * created before it is live, and, once the database swap is done, the switch still owed. The next
 * operation's recovery drops the collections of a restore that failed or was killed before its
 * swap, and completes the switch of one killed after it: the index then follows the database.
 */
import { createReadStream } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { NfrError, messageOf } from '../errors.js';
import { faultPoint } from '../util/fault.js';
import { atomicWriteFile } from '../util/fs.js';
import type { AliasState, QdrantCollections } from './qdrant-collections.js';
import { createSnapshot, downloadSnapshot, openDownload, uploadSnapshot, type SnapshotDescription } from './qdrant-transfer.js';
import type { IndexModel } from './types.js';

export interface CapturedCollection extends IndexModel {
  /** The physical collection the snapshot was taken of. */
  readonly collection: string;
  readonly points: number;
  readonly size: number;
  readonly sha256: string;
}

/**
 * Snapshots the live collection into `file`; null when there is no index yet. Call under the
 * operation lock, which index syncs take too, so the points cannot change meanwhile.
 */
export async function captureCollection(q: QdrantCollections, file: string): Promise<CapturedCollection | null> {
  const state = await q.state();
  if (state.live.kind === 'none') return null;
  const physical = state.live.collection;
  const description = await q.describe(physical);
  if (!description) return null;
  const downloaded = await withServerSnapshot(q, physical, async (snapshot) => {
    const got = await downloadSnapshot(q, physical, snapshot.name, file);
    const problem =
      got.size !== snapshot.size
        ? `${got.size} bytes arrived, Qdrant reported ${snapshot.size}`
        : snapshot.checksum && snapshot.checksum.toLowerCase() !== got.sha256
          ? `its SHA-256 is ${got.sha256}, Qdrant reported ${snapshot.checksum}`
          : undefined;
    if (problem) throw new NfrError('VERIFY_FAILED', `the download of snapshot ${snapshot.name} of collection ${physical} from Qdrant at ${q.url} is damaged: ${problem}`);
    return got;
  });
  return { collection: physical, model: description.model, dimension: description.dimension, distance: description.distance, points: description.points, ...downloaded };
}

/** What a staged restore will make live at the switch. */
export interface StagedCollection {
  /** The new physical collection holding the snapshot's points. */
  readonly collection: string;
  /** What `<prefix>_controls_nfr_prev` will point at: the replaced collection (or its copy). */
  readonly previous: string | null;
  /** `<prefix>_controls` is a collection from before aliases, to delete at the switch. */
  readonly legacy: boolean;
  /** Collections to delete after the switch: the one the previous alias held until now. */
  readonly drop: readonly string[];
}

export interface ExpectedCollection extends IndexModel {
  readonly points: number;
  readonly size: number;
  readonly sha256: string;
}

/** Step 1: recovers the snapshot file into a new collection. Nothing live changes. */
export async function stageCollection(q: QdrantCollections, journalFile: string, file: string, expected: ExpectedCollection): Promise<StagedCollection> {
  const state = await q.state();
  const staging = q.physicalName();
  const created = [staging];
  await writeJournal(journalFile, { url: q.url, live: q.live, created });
  await uploadSnapshot(q, staging, createReadStream(file, { highWaterMark: 1 << 20 }), { size: expected.size, sha256: expected.sha256, filename: `${staging}.snapshot` });
  await q.dropSnapshots(staging);
  const got = await q.describe(staging);
  const mismatch = !got
    ? 'it does not exist after the upload'
    : got.model !== expected.model || got.dimension !== expected.dimension || got.distance !== expected.distance || got.points !== expected.points
      ? `it holds ${got.points} points of "${got.model}" (${got.dimension} dimensions, ${got.distance}), the manifest says ${expected.points} of "${expected.model}" (${expected.dimension}, ${expected.distance})`
      : undefined;
  if (mismatch) throw new NfrError('VERIFY_FAILED', `Qdrant collection ${staging} recovered from the snapshot does not match it: ${mismatch}`);

  let previous = state.live.kind === 'none' ? null : state.live.collection;
  if (state.live.kind === 'collection') {
    // Before aliases: the live name is the collection itself. Its points are copied into a
    // physical collection (through Qdrant's own snapshot, streamed through nfr) that undo can
    // bring back; the collection itself is only deleted at the switch.
    const copy = q.physicalName();
    created.push(copy);
    await writeJournal(journalFile, { url: q.url, live: q.live, created });
    await copyCollection(q, q.live, copy);
    previous = copy;
  }
  const drop = state.previous !== undefined && state.previous !== previous ? [state.previous] : [];
  return { collection: staging, previous, legacy: state.live.kind === 'collection', drop };
}

/** Step 2, after the database swap: makes the staged collection live. */
export async function switchCollection(q: QdrantCollections, journalFile: string, staged: StagedCollection): Promise<void> {
  const journal = await readJournal(journalFile);
  await writeJournal(journalFile, { url: q.url, live: q.live, created: journal?.created ?? [staged.collection], switch: staged });
  await faultPoint('index-switch');
  await completeSwitch(q, staged);
  await rm(journalFile, { force: true });
}

/**
 * Undo: exchanges `<prefix>_controls` and `<prefix>_controls_nfr_prev` in one request. False when
 * there is nothing to exchange (the restore replaced no index).
 */
export async function exchangePrevious(q: QdrantCollections): Promise<boolean> {
  const state = await q.state();
  if (state.live.kind !== 'alias' || state.previous === undefined) return false;
  await q.pointAliases(state.previous, state.live.collection, state);
  return true;
}

/**
 * A restore of a full snapshot without an index keeps the live index; the collection an earlier
 * restore replaced must then not come back with an undo of this one.
 */
export async function forgetPrevious(q: QdrantCollections): Promise<void> {
  const state = await q.state();
  if (state.previous === undefined) return;
  await q.pointAliases(state.live.kind === 'alias' ? state.live.collection : null, null, state);
  await q.drop(state.previous);
}

export interface DiscardResult {
  /** Collections of an unfinished restore that were deleted. */
  readonly dropped: string[];
  /** The switch of a restore killed after its database swap was completed. */
  readonly completed_switch: boolean;
}

/** Cleans up after a restore that did not finish (see the module comment). */
export async function discardStagedCollections(q: QdrantCollections, journalFile: string): Promise<DiscardResult> {
  const journal = await readJournal(journalFile);
  if (!journal) return { dropped: [], completed_switch: false };
  if (journal.url !== q.url || journal.live !== q.live) {
    throw new NfrError(
      'CONFIG',
      `an unfinished restore left Qdrant collections ${journal.created.join(', ')} (alias ${journal.live}) at ${journal.url}, but QDRANT_URL/QDRANT_COLLECTION_PREFIX now name ${q.live} at ${q.url}; run nfr with the earlier settings once so it can clean up, or delete ${journalFile}`,
    );
  }
  if (journal.switch) {
    await completeSwitch(q, journal.switch);
    await rm(journalFile, { force: true });
    return { dropped: [...journal.switch.drop], completed_switch: true };
  }
  const state = await q.state();
  const inUse = new Set([state.live.kind === 'none' ? undefined : state.live.collection, state.previous]);
  const dropped: string[] = [];
  for (const name of journal.created) {
    if (inUse.has(name)) continue;
    const { exists } = await q.call(`check collection ${name}`, (c) => c.collectionExists(name));
    if (!exists) continue;
    // The server keeps uploaded snapshots among the collection's own; they go first.
    await q.dropSnapshots(name);
    await q.drop(name);
    dropped.push(name);
  }
  await rm(journalFile, { force: true });
  return { dropped, completed_switch: false };
}

async function completeSwitch(q: QdrantCollections, staged: StagedCollection): Promise<void> {
  let state: AliasState = await q.state();
  if (staged.legacy && state.live.kind === 'collection') {
    // Qdrant refuses an alias named like a collection. Its points are in staged.previous.
    await q.drop(q.live);
    state = { ...state, live: { kind: 'none' } };
  }
  await q.pointAliases(staged.collection, staged.previous, state);
  for (const name of staged.drop) if (name !== staged.collection && name !== staged.previous) await q.drop(name);
}

/** Copies a collection through a server-side snapshot streamed from download into upload. */
async function copyCollection(q: QdrantCollections, source: string, target: string): Promise<void> {
  const before = await q.describe(source);
  await withServerSnapshot(q, source, async (snapshot) => {
    const download = await openDownload(q, source, snapshot.name, `download snapshot ${snapshot.name} of collection ${source}`);
    await uploadSnapshot(q, target, download, { size: snapshot.size, sha256: snapshot.checksum?.toLowerCase() ?? undefined, filename: `${target}.snapshot` });
  });
  await q.dropSnapshots(target);
  const after = await q.describe(target);
  if (after?.points !== before?.points) {
    throw new NfrError('VERIFY_FAILED', `the copy ${target} of Qdrant collection ${source} holds ${after?.points ?? 'no'} points instead of ${before?.points ?? 0}`);
  }
}

/** Creates a server-side snapshot of `collection`, runs fn on it, and always deletes it. */
async function withServerSnapshot<T>(q: QdrantCollections, collection: string, fn: (snapshot: SnapshotDescription) => Promise<T>): Promise<T> {
  const snapshot = await createSnapshot(q, collection);
  const remove = () => q.call(`delete snapshot ${snapshot.name} of collection ${collection}`, (c) => c.deleteSnapshot(collection, snapshot.name, { wait: true }));
  let result: T;
  try {
    result = await fn(snapshot);
  } catch (err) {
    await remove().catch((removeErr: unknown) => {
      throw new NfrError('TOOL_FAILED', `${messageOf(err)}; the snapshot ${snapshot.name} it left on the server could not be deleted either: ${messageOf(removeErr)}`, { cause: err });
    });
    throw err;
  }
  await remove();
  return result;
}

interface Journal {
  readonly url: string;
  readonly live: string;
  readonly created: string[];
  readonly switch?: StagedCollection;
}

async function readJournal(file: string): Promise<Journal | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const j = JSON.parse(text) as Partial<Journal>;
  if (typeof j.url !== 'string' || typeof j.live !== 'string' || !Array.isArray(j.created)) {
    throw new NfrError('VERIFY_FAILED', `${file} is not a restore journal nfr wrote; delete it after checking Qdrant's collections by hand`);
  }
  return j as Journal;
}

function writeJournal(file: string, journal: Journal): Promise<void> {
  return atomicWriteFile(file, JSON.stringify(journal, null, 2) + '\n');
}
