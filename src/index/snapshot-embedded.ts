/**
 * The embedded index's part of a full snapshot: its live generation's files. On restore they are
 * copied next to the live directory (`<dir>.nfr-incoming`), put in place by rename right after the
 * PostgreSQL swap, and the replaced directory is kept as `<dir>.nfr-prev` for undo.
 */
import { copyFile, readFile } from 'node:fs/promises';
import path from 'node:path';
import { NfrError } from '../errors.js';
import { copyTree, discardStagedDir, exchangeWithPrevious, forgetPreviousDir, INCOMING, replaceDir } from '../util/dir-swap.js';
import { faultPoint } from '../util/fault.js';
import { pathExists } from '../util/fs.js';
import { indexLeftovers, QDRANT_JOURNAL } from './snapshot-qdrant.js';
import type { CapturedIndex, DiscardedIndex, IndexSnapshots, StagedIndex, StageRequest } from './snapshot.js';

export class EmbeddedIndexSnapshots implements IndexSnapshots {
  readonly backend = 'embedded' as const;

  constructor(
    private readonly indexPath: string,
    private readonly stateDir: string,
  ) {}

  async capture(dir: string): Promise<CapturedIndex | null> {
    let current: string;
    try {
      current = (await readFile(path.join(this.indexPath, 'CURRENT'), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null; // no index built yet
      throw err;
    }
    if (!/^gen-\d{6,}$/.test(current)) throw new NfrError('VERIFY_FAILED', `the embedded index at ${this.indexPath} names no generation; rebuild it with \`nfr index --force\``);
    await copyTree(path.join(this.indexPath, current), path.join(dir, current), () => true);
    await copyFile(path.join(this.indexPath, 'CURRENT'), path.join(dir, 'CURRENT'));
    const meta = JSON.parse(await readFile(path.join(dir, current, 'meta.json'), 'utf8')) as { model: string; dimension: number; distance: CapturedIndex['distance']; points: number };
    return { backend: 'embedded', model: meta.model, dimension: meta.dimension, distance: meta.distance, points: meta.points };
  }

  async stage(request: StageRequest): Promise<StagedIndex> {
    // The fault point sits after each copied index file, so a test can fail the index part half-way.
    await copyTree(request.dir, this.indexPath + INCOMING, () => true, () => faultPoint('index-staging'));
    return { backend: 'embedded' };
  }

  async switchLive(): Promise<void> {
    await replaceDir(this.indexPath);
  }

  forgetPrevious(): Promise<void> {
    return forgetPreviousDir(this.indexPath);
  }

  async checkReachable(): Promise<void> {}

  exchangePrevious(): Promise<boolean> {
    return exchangeWithPrevious(this.indexPath);
  }

  async discard(): Promise<DiscardedIndex> {
    await discardStagedDir(this.indexPath);
    const journal = path.join(this.stateDir, QDRANT_JOURNAL);
    if (await pathExists(journal)) {
      throw new NfrError('CONFIG', `an unfinished restore left Qdrant collections named in ${journal}, but QDRANT_URL is not set; run nfr with the Qdrant settings once so it can clean up`);
    }
    return { dropped_collections: [], completed_index_switch: false };
  }

  leftovers(): Promise<string[]> {
    return indexLeftovers(this.indexPath, this.stateDir);
  }

  /** Discarding staged files is not worth an event: nothing outside the index directory changed. */
  describeDiscarded(): string | undefined {
    return undefined;
  }

  describeDiscardFailure(message: string): string {
    return `could not clean up the staged index of an unfinished restore: ${message}`;
  }
}
