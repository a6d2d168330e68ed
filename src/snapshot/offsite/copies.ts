/**
 * A snapshot's two places: the local directory and the offsite repository. Pushing a completed
 * snapshot, fetching one that lives only offsite back before a restore, and where each one is.
 *
 * A snapshot is completed when its local manifest is in place; being offsite is a second fact
 * about it, true once its manifest is committed to the bucket. A push that fails therefore never
 * undoes a create: the snapshot stays completed, not offsite, and `nfr snapshot push`, the next
 * create and every running server retry it.
 */
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { messageOf, toNfrError } from '../../errors.js';
import { withOperation, type Operation, type ProgressListener } from '../../runtime/operation.js';
import type { Context } from '../../runtime/context.js';
import { fsyncDir, pathExists } from '../../util/fs.js';
import { compareIds, completedSnapshots } from '../catalog.js';
import type { SnapshotId } from '../ids.js';
import type { Manifest } from '../manifest.js';
import { recordEvent } from '../state.js';
import { snapshotDir } from '../store.js';
import { removeSnapshotDir } from '../delete.js';
import { readAllWarmCopies } from '../warm-copies.js';
import { catalogManifest } from './find.js';
import { alreadyOffsite, notConfigured, offsiteRepository, type PushResult, type TransferProgress } from './repository.js';

/** What happened to the offsite copy of a snapshot just created. */
export interface OffsiteCopy {
  /** `completed`: committed to the bucket; `failed`: not offsite yet (see error); `disabled`: no NFR_S3_REPOSITORY. */
  readonly status: 'completed' | 'failed' | 'disabled';
  readonly repository: string;
  readonly error: string | null;
  readonly push: PushResult | null;
  /** Local copies removed to stay within NFR_LOCAL_KEEP (they live on offsite). */
  readonly evicted: string[];
}

function transfer(onProgress: ProgressListener | undefined): (p: TransferProgress) => void {
  return (p) => onProgress?.({ phase: p.phase, tables_done: p.files_done, tables_total: p.files_total, bytes: p.bytes });
}

/**
 * Copies a just-created snapshot offsite, under the caller's lock. Never throws: a failed upload
 * leaves the snapshot completed locally and not offsite, with the reason in the event log.
 */
export async function copyOffsite(ctx: Context, manifest: Manifest, onProgress?: ProgressListener): Promise<OffsiteCopy> {
  const repo = offsiteRepository(ctx.config);
  if (!repo.configured) return { status: 'disabled', repository: repo.description, error: null, push: null, evicted: [] };
  const id = manifest.id as SnapshotId;
  try {
    const push = await repo.push(snapshotDir(ctx.store, id), manifest, transfer(onProgress));
    await recordEvent(ctx.store, { operation: 'push', status: 'completed', snapshot_id: id, duration_ms: push.upload_ms + push.check_ms, details: { stored_bytes: push.stored_bytes, encrypted: push.encrypted } });
    // The snapshot is offsite whatever eviction does; a failure to evict is a failed operation of its own.
    const evicted = await evictLocalCopies(ctx).catch(async (err: unknown) => {
      await recordEvent(ctx.store, { operation: 'evict', status: 'failed', error: messageOf(err) }).catch(() => {});
      return [] as string[];
    });
    return { status: 'completed', repository: repo.description, error: null, push, evicted };
  } catch (err) {
    const error = `${messageOf(err)}; snapshot ${id} is completed locally but not offsite yet: nfr snapshot push --id ${id} (running servers retry)`;
    await recordEvent(ctx.store, { operation: 'push', status: 'failed', snapshot_id: id, error: messageOf(err) }).catch(() => {});
    return { status: 'failed', repository: repo.description, error, push: null, evicted: [] };
  }
}

/** `nfr snapshot push --id ID`: uploads a local snapshot that is not offsite yet (a no-op when it is). */
export async function pushSnapshot(ctx: Context, id: SnapshotId, onProgress?: ProgressListener): Promise<PushResult> {
  const repo = offsiteRepository(ctx.config);
  if (!repo.configured) throw notConfigured();
  await repo.check();
  return withOperation(ctx, 'push', id, async () => {
    // A snapshot kept only in the bucket (NFR_LOCAL_KEEP) has nothing left to push: say so, as
    // for one whose local copy is already offsite, instead of "not found" for a listed snapshot.
    const found = await catalogManifest(ctx, id);
    if (found.dir === undefined) return alreadyOffsite(found);
    const { dir, manifest } = found;
    try {
      const r = await repo.push(dir, manifest, transfer(onProgress));
      await recordEvent(ctx.store, { operation: 'push', status: 'completed', snapshot_id: id, duration_ms: r.upload_ms + r.check_ms });
      await evictLocalCopies(ctx);
      return r;
    } catch (err) {
      await recordEvent(ctx.store, { operation: 'push', status: 'failed', snapshot_id: id, error: messageOf(err) }).catch(() => {});
      throw err;
    }
  });
}

/** Local snapshots whose copy is not committed offsite, oldest first. */
export async function notOffsite(ctx: Context): Promise<Manifest[]> {
  const repo = offsiteRepository(ctx.config);
  if (!repo.configured) return [];
  const [local, remote] = await Promise.all([completedSnapshots(ctx.store), repo.ids()]);
  return local.filter((m) => !remote.has(m.id as SnapshotId));
}

/**
 * What a running server does periodically: push every local snapshot that is not offsite yet.
 * Skips (returns nothing) when another operation holds the lock; per-snapshot results otherwise.
 */
export async function pushPending(ctx: Context): Promise<{ id: string; ok: boolean; error: string | null }[]> {
  const pending = await notOffsite(ctx);
  const out: { id: string; ok: boolean; error: string | null }[] = [];
  for (const m of pending) {
    try {
      await withOperation(ctx, 'push', m.id, async () => {
        const r = await copyOffsite(ctx, m);
        out.push({ id: m.id, ok: r.status === 'completed', error: r.error });
      }, 0);
    } catch (err) {
      if (toNfrError(err).code === 'LOCKED') break;
      out.push({ id: m.id, ok: false, error: messageOf(err) });
    }
  }
  return out;
}

/**
 * Makes sure a snapshot's files are on local disk, under the caller's lock: a snapshot that lives
 * only offsite is downloaded into a temporary directory, every file checked against its manifest,
 * and only then renamed into the catalog. A restore runs this as its first step, before any
 * database is touched; a missing or wrong key is refused before a byte is downloaded.
 */
export async function fetchIfOffsiteOnly(ctx: Context, _op: Operation, id: SnapshotId, onProgress?: ProgressListener): Promise<'local' | 'fetched'> {
  const final = snapshotDir(ctx.store, id);
  if (await pathExists(final)) return 'local';
  const repo = offsiteRepository(ctx.config);
  const work = path.join(ctx.store.tmpDir, `${id}@fetch`);
  await rm(work, { recursive: true, force: true });
  try {
    onProgress?.({ phase: 'downloading' });
    await repo.fetch(id, work, transfer(onProgress));
    await rename(work, final);
    await fsyncDir(ctx.store.root);
    await recordEvent(ctx.store, { operation: 'fetch', status: 'completed', snapshot_id: id });
    return 'fetched';
  } catch (err) {
    await rm(work, { recursive: true, force: true }).catch(() => {});
    throw err;
  }
}

/** Every completed snapshot in either place, oldest first (what retention plans over). */
export async function everySnapshot(ctx: Context): Promise<Manifest[]> {
  const repo = offsiteRepository(ctx.config);
  const local = await completedSnapshots(ctx.store);
  const localIds = new Set(local.map((m) => m.id));
  const remote: Manifest[] = [];
  for (const id of await repo.ids()) {
    if (localIds.has(id)) continue;
    const found = await repo.get(id);
    if (found) remote.push(found.manifest);
  }
  return [...local, ...remote].sort((a, b) => compareIds(a.id, b.id));
}


/**
 * NFR_LOCAL_KEEP=N: local copies beyond the newest N are removed, but only of snapshots whose
 * offsite copy is committed, and never of pinned or warm ones (they always stay and do not count).
 * An evicted snapshot is still listed (location `offsite`) and comes back on demand: a restore
 * fetches it first. Call under the operation lock.
 */
export async function evictLocalCopies(ctx: Context): Promise<string[]> {
  const keep = ctx.config.localKeep;
  if (keep === undefined) return [];
  const [local, remote, warm] = await Promise.all([completedSnapshots(ctx.store), offsiteRepository(ctx.config).ids(), readAllWarmCopies(ctx.store)]);
  const evictable = local.filter((m) => !m.tags.includes('pinned') && !warm.has(m.id));
  const evicted: string[] = [];
  for (const m of evictable.slice(0, Math.max(0, evictable.length - keep))) {
    if (!remote.has(m.id as SnapshotId)) continue;
    await removeSnapshotDir(ctx.store, m.id as SnapshotId);
    await recordEvent(ctx.store, { operation: 'evict', status: 'completed', snapshot_id: m.id, details: { local_keep: keep } });
    evicted.push(m.id);
  }
  return evicted;
}
