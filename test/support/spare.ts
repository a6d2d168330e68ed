/** What the spare tests (spare, spare-discard) read of a home: its spares, the lock's holder, whether a pid lives. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after } from 'node:test';
import { nfrJson, type Env } from './cli.js';
import { waitFor } from './wait.js';

/** The snapshot's recorded spare (from `nfr snapshot show`), or null. */
export async function spareOf(env: Env, id: string): Promise<any> {
  const shown = await nfrJson(['snapshot', 'show', '--id', id], env);
  assert.equal(shown.code, 0, shown.stderr);
  return shown.body.warm?.spare ?? null;
}

/** Waits, with nobody acting, until the snapshot has a recorded spare prepared after `since`. */
export function nextSpare(env: Env, id: string, since = ''): Promise<any> {
  return waitFor(
    async () => {
      const s = await spareOf(env, id);
      return s && s.prepared_at > since ? s : null;
    },
    { what: `a spare of ${id} prepared after ${since || 'nothing'}`, intervalMs: 200 },
  );
}

/** Who holds the operation lock, from its lock file (the detached preparer writes its pid there). */
export async function lockHolder(env: Env): Promise<{ pid: number; operation: string } | null> {
  try {
    return JSON.parse(await readFile(path.join(env.POSTGRES_BACKUP_PATH as string, '.locks', 'snapshot_operation.lock'), 'utf8'));
  } catch {
    return null;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Detached preparers a test file made hang at a fault point: put pids here, and they are killed when the file ends, whatever happened. */
export function preparersKilledAtEnd(): Set<number> {
  const preparers = new Set<number>();
  after(() => {
    for (const pid of preparers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
  });
  return preparers;
}
