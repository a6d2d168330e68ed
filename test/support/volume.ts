/** Full disks for tests: a small tmpfs to fill up (root only), and what is left on it. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * A tmpfs of `kib` KiB mounted on `dir` to fill up (root only); skips the test, saying why, where it cannot be
 * mounted. `grow` remounts it larger, `remove` unmounts it.
 */
export async function smallVolume(t: { skip: (reason: string) => void }, dir: string, kib: number): Promise<{ dir: string; grow: (kib: number) => Promise<void>; remove: () => Promise<void> } | undefined> {
  if (process.getuid?.() !== 0) {
    t.skip('a full disk is simulated with a tmpfs, which needs root');
    return undefined;
  }
  const mount = (args: string[]) => new Promise<number>((resolve) => spawn('mount', args, { stdio: 'ignore' }).on('close', (code) => resolve(code ?? 1)).on('error', () => resolve(1)));
  if ((await mount(['-t', 'tmpfs', '-o', `size=${kib}k,mode=0755`, 'tmpfs', dir])) !== 0) {
    t.skip('mount -t tmpfs failed (no CAP_SYS_ADMIN here?): cannot simulate a full disk');
    return undefined;
  }
  return {
    dir,
    grow: async (size) => {
      assert.equal(await mount(['-o', `remount,size=${size}k`, dir]), 0);
    },
    remove: async () => {
      await new Promise<void>((resolve) => spawn('umount', ['-l', dir], { stdio: 'ignore' }).on('close', () => resolve()).on('error', () => resolve()));
    },
  };
}

/**
 * Fills a volume: writes `filler` until the disk refuses (ENOSPC), then one-byte files until not
 * even a new file's first page fits, so that the next write of any size fails.
 */
export async function fill(dir: string): Promise<void> {
  const full = (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOSPC') throw err;
    return 'full' as const;
  };
  await writeFile(path.join(dir, 'filler'), Buffer.alloc(64 * 1024 * 1024)).catch(full);
  for (let i = 1; i < 1000; i++) if ((await writeFile(path.join(dir, `filler-${i}`), 'x').catch(full)) === 'full') return;
  throw new Error(`${dir} did not fill up`);
}

/** Every file under `dir`, relative, sorted (hidden ones too). */
export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && !/^filler-\d+$/.test(e.name))
    .map((e) => path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .sort();
}
