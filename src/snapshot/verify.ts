/**
 * Verification: every file the manifest lists exists with its size and SHA-256, and nothing else
 * is in the archive. `--deep` also restores the archive into a scratch database and compares
 * every table's row count with the manifest.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { NfrError } from '../errors.js';
import { listFiles, mapLimit, sha256File } from '../util/fs.js';
import type { SnapshotId } from './ids.js';
import { readSnapshotManifest, type Manifest } from './manifest.js';
import { MANIFEST_FILE, snapshotDir } from './store.js';
import { type SnapshotStore } from '../runtime/context.js';
import type { z } from 'zod';
import type { fileCheckSchema, verifyResultSchema } from './shapes.js';

/** Defined once, in snapshot/shapes.ts (the API's response schema is generated from it). */
export type VerifyResult = z.infer<typeof verifyResultSchema>;

export type FileCheck = z.infer<typeof fileCheckSchema>;

/** Reads a snapshot's manifest, NOT_FOUND if the snapshot does not exist. */
export async function loadSnapshot(store: SnapshotStore, id: SnapshotId): Promise<{ dir: string; manifest: Manifest }> {
  const dir = snapshotDir(store, id);
  try {
    await stat(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // The repository's path stays in details: API readers get no server paths (issue 19 item 9).
      throw new NfrError('NOT_FOUND', `snapshot ${id} not found in the snapshot repository (POSTGRES_BACKUP_PATH); see \`nfr snapshot list\``, { details: { repository: store.root } });
    }
    throw err;
  }
  return { dir, manifest: await readSnapshotManifest(dir, id) };
}

/** Checks every file (or those `only` accepts) against the manifest. Never throws for a bad file: it reports it. */
export async function verifyFiles(dir: string, manifest: Manifest, parallel = 2, only: (file: string) => boolean = () => true): Promise<VerifyResult> {
  const problems: string[] = [];
  const entries = manifest.files.filter((f) => only(f.path));
  const listed = new Set(manifest.files.map((f) => f.path));
  const present = (await listFiles(dir)).filter((f) => f !== MANIFEST_FILE && only(f));
  for (const f of present) if (!listed.has(f)) problems.push(`${f}: not listed in the manifest`);
  let bytes = 0;
  const files = await mapLimit(entries, parallel, async (entry): Promise<FileCheck> => {
    const file = path.join(dir, entry.path);
    const check = (problem: string | null): FileCheck => {
      if (problem) problems.push(`${entry.path}: ${problem}`);
      return { path: entry.path, size: entry.size, ok: problem === null, problem };
    };
    let size: number;
    try {
      size = (await stat(file)).size;
    } catch {
      return check('missing');
    }
    if (size !== entry.size) return check(`size ${size} bytes, manifest says ${entry.size}`);
    const sha = await sha256File(file);
    bytes += size;
    return check(sha === entry.sha256 ? null : `SHA-256 ${sha} does not match the manifest's ${entry.sha256}`);
  });
  problems.sort();
  return { id: manifest.id, ok: problems.length === 0, problems, files_checked: entries.length, bytes_checked: bytes, files };
}

/** Throws VERIFY_FAILED listing the problems if the snapshot's files do not match its manifest. */
/** `only` limits the check to some files (a warm restore does not read the database archive). */
export async function assertVerified(dir: string, manifest: Manifest, parallel = 2, only?: (file: string) => boolean): Promise<VerifyResult> {
  const result = await verifyFiles(dir, manifest, parallel, only);
  if (!result.ok) {
    const shown = result.problems.slice(0, 10).join('\n  ');
    const more = result.problems.length > 10 ? `\n  ... and ${result.problems.length - 10} more` : '';
    throw new NfrError('VERIFY_FAILED', `snapshot ${manifest.id} failed verification; it will not be restored:\n  ${shown}${more}`, {
      details: { problems: result.problems },
    });
  }
  return result;
}
