/**
 * The file parts of a full snapshot: the embedded vector index (its live generation) and
 * DATA_INGESTED_PATH, copied into the snapshot beside the PostgreSQL archive and checksummed with
 * it. On restore both are first copied next to their live directories (`<dir>.nfr-incoming`);
 * only after the PostgreSQL swap are they put in place by rename, and the replaced directories are
 * kept as `<dir>.nfr-prev` for undo. A failure before the swap leaves every live part untouched.
 *
 * Runs under the operation lock, which ingestion and index syncs also take, so the three parts
 * describe one moment. Qdrant's collection snapshots are not covered yet.
 */
import { copyFile, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { NfrError, toNfrError } from '../errors.js';
import { faultPoint } from '../util/fault.js';
import { fsyncDir, pathExists } from '../util/fs.js';
import type { Manifest } from './manifest.js';

export const INDEX_DIR = 'index';
export const DATA_DIR = 'data';

const INCOMING = '.nfr-incoming';
const PREVIOUS = '.nfr-prev';
const SWAP = '.nfr-swap';

export type IndexInfo = NonNullable<Manifest['index']>;

/** Refuses what a full snapshot cannot capture yet, before anything is written. */
export function assertFullSupported(config: Config): void {
  if (config.qdrant) {
    throw new NfrError('USAGE', 'full snapshots cover the embedded vector index; with QDRANT_URL set, take a PostgreSQL snapshot (without --full) and re-sync the index after a restore');
  }
}

/** Copies the live index generation and the ingested files into the snapshot directory. */
export async function captureFiles(config: Config, work: string): Promise<IndexInfo | null> {
  await copyTree(config.dataIngestedPath, path.join(work, DATA_DIR), (rel) => !rel.startsWith('.incoming'));
  let current: string;
  try {
    current = (await readFile(path.join(config.indexPath, 'CURRENT'), 'utf8')).trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null; // no index built yet
    throw err;
  }
  if (!/^gen-\d{6,}$/.test(current)) throw new NfrError('VERIFY_FAILED', `the embedded index at ${config.indexPath} names no generation; rebuild it with \`nfr index --force\``);
  const target = path.join(work, INDEX_DIR);
  await copyTree(path.join(config.indexPath, current), path.join(target, current), () => true);
  await copyFile(path.join(config.indexPath, 'CURRENT'), path.join(target, 'CURRENT'));
  const meta = JSON.parse(await readFile(path.join(target, current, 'meta.json'), 'utf8')) as { model: string; dimension: number; distance: string; points: number };
  return { backend: 'embedded', model: meta.model, dimension: meta.dimension, distance: meta.distance, points: meta.points };
}

/** Refuses a snapshot whose index was built by another embedder than the configured one. */
export async function assertIndexCompatible(config: Config, info: IndexInfo | null | undefined): Promise<void> {
  if (!info) return;
  assertFullSupported(config);
  const { createEmbedder } = await import('../enrich/create-embedder.js');
  const embedder = createEmbedder(config);
  const dimensionKnown = embedder.dimension > 0;
  if (embedder.model !== info.model || embedder.distance !== info.distance || (dimensionKnown && embedder.dimension !== info.dimension)) {
    throw new NfrError(
      'SCHEMA_MISMATCH',
      `the snapshot's vector index was built with model "${info.model}" (${info.dimension} dimensions, ${info.distance}) but this configuration embeds with "${embedder.model}" (${dimensionKnown ? embedder.dimension : 'unknown'} dimensions, ${embedder.distance}); configure that model, or restore without the index and run \`nfr index --force\``,
    );
  }
}

export interface StagedFiles {
  readonly index: boolean;
  readonly data: boolean;
}

/** Copies the snapshot's parts next to the live directories; nothing live changes yet. */
export async function stageFiles(config: Config, snapshotDir: string, manifest: Manifest): Promise<StagedFiles> {
  await discardStaged(config);
  const data = manifest.contains.ingested_files;
  const index = manifest.contains.vector_index;
  try {
    if (data) await copyTree(path.join(snapshotDir, DATA_DIR), config.dataIngestedPath + INCOMING, () => true);
    // The fault point sits after each copied index file, so a test can fail the index part half-way.
    if (index) await copyTree(path.join(snapshotDir, INDEX_DIR), config.indexPath + INCOMING, () => true, () => faultPoint('index-staging'));
  } catch (err) {
    await discardStaged(config).catch(() => {});
    const e = toNfrError(err);
    throw new NfrError(e.code, `staging the ${index ? 'vector index and ' : ''}ingested files of ${manifest.id} failed, so nothing live was changed: ${e.message}`, { cause: err });
  }
  return { index, data };
}

/** Puts the staged parts in place by rename, keeping the replaced ones for undo. */
export async function swapStagedFiles(config: Config, staged: StagedFiles): Promise<void> {
  if (staged.data) await replaceDir(config.dataIngestedPath, config.dataIngestedPath + INCOMING);
  if (staged.index) await replaceDir(config.indexPath, config.indexPath + INCOMING);
}

/** Exchanges the live directories with the ones the last full restore replaced (undo). */
export async function swapPreviousFiles(config: Config): Promise<boolean> {
  let swapped = false;
  for (const live of [config.dataIngestedPath, config.indexPath]) {
    const prev = live + PREVIOUS;
    if (!(await pathExists(prev))) continue;
    const temp = live + SWAP;
    await rm(temp, { recursive: true, force: true });
    if (await pathExists(live)) await rename(live, temp);
    await rename(prev, live);
    if (await pathExists(temp)) await rename(temp, prev);
    await fsyncDir(path.dirname(live));
    swapped = true;
  }
  return swapped;
}

/** Removes staged copies a killed restore left behind. */
export async function discardStaged(config: Config): Promise<void> {
  for (const live of [config.dataIngestedPath, config.indexPath]) {
    await rm(live + INCOMING, { recursive: true, force: true });
    await rm(live + SWAP, { recursive: true, force: true });
  }
}

async function replaceDir(live: string, incoming: string): Promise<void> {
  const prev = live + PREVIOUS;
  await rm(prev, { recursive: true, force: true });
  if (await pathExists(live)) await rename(live, prev);
  await rename(incoming, live);
  await fsyncDir(path.dirname(live));
}

/** Copies regular files under `from` (if it exists) to `to`, keeping the tree; 0700 dirs. */
async function copyTree(from: string, to: string, include: (rel: string) => boolean, afterFile?: () => Promise<void>): Promise<void> {
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
