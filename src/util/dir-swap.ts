/**
 * Directories replaced by rename, with the replaced one kept for undo: a copy is staged beside the
 * live directory (`<dir>.nfr-incoming`), put in place by two renames, and the replaced directory
 * stays as `<dir>.nfr-prev` until the next replacement. Used for DATA_INGESTED_PATH and the
 * embedded index.
 */
import { copyFile, mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fsyncDir, pathExists } from './fs.js';

export const INCOMING = '.nfr-incoming';
export const PREVIOUS = '.nfr-prev';
const SWAP = '.nfr-swap';

/** Puts `<live>.nfr-incoming` in place of `live`, keeping the replaced directory as `<live>.nfr-prev`. */
export async function replaceDir(live: string): Promise<void> {
  const prev = live + PREVIOUS;
  await rm(prev, { recursive: true, force: true });
  if (await pathExists(live)) await rename(live, prev);
  await rename(live + INCOMING, live);
  await fsyncDir(path.dirname(live));
}

/** Exchanges `live` with `<live>.nfr-prev` (undo); false when there is no previous directory. */
export async function exchangeWithPrevious(live: string): Promise<boolean> {
  const prev = live + PREVIOUS;
  if (!(await pathExists(prev))) return false;
  const temp = live + SWAP;
  await rm(temp, { recursive: true, force: true });
  if (await pathExists(live)) await rename(live, temp);
  await rename(prev, live);
  if (await pathExists(temp)) await rename(temp, prev);
  await fsyncDir(path.dirname(live));
  return true;
}

/** What discardStagedDir would remove (paths that exist); reads only. */
export async function stagedDirLeftovers(live: string): Promise<string[]> {
  const found: string[] = [];
  for (const p of [live + INCOMING, live + SWAP]) if (await pathExists(p)) found.push(p);
  return found;
}

/** Removes what an unfinished replacement of `live` left: its staged copy and its swap name. */
export async function discardStagedDir(live: string): Promise<void> {
  await rm(live + INCOMING, { recursive: true, force: true });
  await rm(live + SWAP, { recursive: true, force: true });
}

/** Forgets the directory the last replacement kept, so an undo cannot bring it back. */
export async function forgetPreviousDir(live: string): Promise<void> {
  await rm(live + PREVIOUS, { recursive: true, force: true });
}

/** Copies regular files under `from` (if it exists) to `to`, keeping the tree; 0700 dirs. */
export async function copyTree(from: string, to: string, include: (rel: string) => boolean, afterFile?: () => Promise<void>): Promise<void> {
  await mkdir(to, { recursive: true, mode: 0o700 });
  async function walk(rel: string): Promise<void> {
    let entries;
    try {
      entries = await readdir(path.join(from, rel), { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const e of entries) {
      const child = rel ? `${rel}/${e.name}` : e.name;
      if (!include(child)) continue;
      if (e.isDirectory()) {
        await mkdir(path.join(to, child), { recursive: true, mode: 0o700 });
        await walk(child);
      } else if (e.isFile()) {
        await copyFile(path.join(from, child), path.join(to, child));
        await afterFile?.();
      }
    }
  }
  await walk('');
}
