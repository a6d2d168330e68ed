/** Finding a snapshot in either place (local directory first, then the offsite repository). */
import { NfrError } from '../../errors.js';
import type { Context } from '../../runtime/context.js';
import type { SnapshotId } from '../ids.js';
import type { Manifest } from '../manifest.js';
import { loadSnapshot } from '../verify.js';
import { offsiteRepository, type OffsiteRecord } from './repository.js';

export type Location = 'local' | 'offsite' | 'both';

/** A snapshot's manifest from wherever it is: local first, else the offsite repository (NOT_FOUND if neither). */
export async function findManifest(ctx: Pick<Context, 'config' | 'store'>, id: SnapshotId): Promise<{ manifest: Manifest; location: Location }> {
  const repo = offsiteRepository(ctx.config);
  try {
    const { manifest } = await loadSnapshot(ctx.store, id);
    const remote = repo.configured ? await repo.ids().then((ids) => ids.has(id), () => false) : false;
    return { manifest, location: remote ? 'both' : 'local' };
  } catch (err) {
    if (!(err instanceof NfrError && err.code === 'NOT_FOUND')) throw err;
    const remote = await repo.get(id);
    if (!remote) throw err;
    return { manifest: remote.manifest, location: 'offsite' };
  }
}

/**
 * A snapshot's manifest from the catalog's two places: the local directory (`dir`), else the
 * offsite repository (`dir` undefined, with its record there), since `list` shows snapshots kept
 * only there (NFR_LOCAL_KEEP) and a restore fetches them back. NOT_FOUND when neither has it.
 * Unlike findManifest, a local snapshot costs no request to the bucket.
 */
export async function catalogManifest(
  ctx: Pick<Context, 'config' | 'store'>,
  id: SnapshotId,
): Promise<{ manifest: Manifest; dir: string; offsite?: undefined } | { manifest: Manifest; dir: undefined; offsite: OffsiteRecord }> {
  try {
    return await loadSnapshot(ctx.store, id);
  } catch (err) {
    if (!(err instanceof NfrError && err.code === 'NOT_FOUND')) throw err;
    const repo = offsiteRepository(ctx.config);
    const remote = repo.configured ? await repo.get(id) : undefined;
    if (!remote) throw err;
    return { manifest: remote.manifest, dir: undefined, offsite: remote.offsite };
  }
}

/**
 * What a command that reads the local copy says when it is missing: NOT_FOUND stays NOT_FOUND
 * unless the snapshot is in the offsite repository, which gives OFFSITE_ONLY saying where it is
 * and what to do instead (`fix`).
 */
export async function whereIsIt(ctx: Pick<Context, 'config'>, id: SnapshotId, err: unknown, fix: string): Promise<unknown> {
  if (!(err instanceof NfrError && err.code === 'NOT_FOUND')) return err;
  const repo = offsiteRepository(ctx.config);
  if (!repo.configured) return err;
  const remote = await repo.get(id).catch(() => undefined);
  if (!remote) return err;
  return new NfrError('OFFSITE_ONLY', `snapshot ${id} is not on local disk: its only copy is in the offsite repository ${repo.description}; ${fix}`, { details: { location: 'offsite' } });
}

/** What to do instead of verifying the local copy of a snapshot that is only offsite. */
export function verifyOffsiteOnly(id: SnapshotId): string {
  return `check that copy with \`nfr snapshot verify --id ${id} --offsite\` (API: {"offsite": true}), or bring it back with \`nfr snapshot warm --id ${id}\` or a restore, which fetch it first`;
}
