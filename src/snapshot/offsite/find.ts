/** Finding a snapshot in either place (local directory first, then the offsite repository). */
import { NfrError } from '../../errors.js';
import type { Context } from '../../runtime/context.js';
import type { SnapshotId } from '../ids.js';
import type { Manifest } from '../manifest.js';
import { loadSnapshot } from '../verify.js';
import { offsiteRepository } from './repository.js';

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
