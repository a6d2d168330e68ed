/**
 * The parts of a full snapshot beside the PostgreSQL archive: the vector index and
 * DATA_INGESTED_PATH, checksummed with the archive in the same manifest.
 *
 * - Embedded index: its live generation's files, under `index/`. On restore they are copied next
 *   to the live directory (`<dir>.nfr-incoming`), put in place by rename right after the
 *   PostgreSQL swap, and the replaced directory is kept as `<dir>.nfr-prev` for undo.
 * - Qdrant: the collection snapshot file Qdrant made (`index/qdrant-collection.snapshot`). On
 *   restore it is uploaded into a new collection before the swap and made live by moving the
 *   alias after it; the replaced collection stays as the previous one for undo
 *   (src/index/qdrant-snapshot.ts).
 * - DATA_INGESTED_PATH: its files under `data/`, staged and swapped like the embedded index.
 *
 * A failure before the swap leaves every live part untouched. Runs under the operation lock,
 * which ingestion and index syncs also take, so the three parts describe one moment.
 */
import { copyFile, mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import type { Distance } from '../enrich/embedder.js';
import { NfrError, toNfrError } from '../errors.js';
import type { QdrantCollections } from '../index/qdrant-collections.js';
import type { StagedCollection } from '../index/qdrant-snapshot.js';
import { faultPoint } from '../util/fault.js';
import { fsyncDir, pathExists } from '../util/fs.js';
import type { Manifest } from './manifest.js';
import type { SnapshotStore } from '../runtime/context.js';

export const INDEX_DIR = 'index';
export const DATA_DIR = 'data';

const INCOMING = '.nfr-incoming';
const PREVIOUS = '.nfr-prev';
const SWAP = '.nfr-swap';

/** The Qdrant collection snapshot inside a full snapshot's directory. */
export const QDRANT_SNAPSHOT_FILE = `${INDEX_DIR}/qdrant-collection.snapshot`;
/** The journal of a restore's Qdrant collections until they are live (see qdrant-snapshot.ts). */
const QDRANT_JOURNAL = 'qdrant-restore.json';

export type IndexInfo = NonNullable<Manifest['index']>;

/** What the full-snapshot parts need of a snapshot context. */
export interface FilesContext {
  readonly config: Config;
  readonly store: SnapshotStore;
}

/** Copies the ingested files and the live index (embedded files or a Qdrant snapshot) into the snapshot directory. */
export async function captureFiles(config: Config, work: string): Promise<IndexInfo | null> {
  await copyTree(config.dataIngestedPath, path.join(work, DATA_DIR), (rel) => !rel.startsWith('.incoming'));
  if (config.qdrant) {
    const [q, { captureCollection }] = await Promise.all([qdrant(config), import('../index/qdrant-snapshot.js')]);
    await mkdir(path.join(work, INDEX_DIR), { recursive: true, mode: 0o700 });
    const captured = await captureCollection(q, path.join(work, QDRANT_SNAPSHOT_FILE));
    if (!captured) {
      await rm(path.join(work, INDEX_DIR), { recursive: true, force: true });
      return null; // no index built yet
    }
    const { model, dimension, distance, points, collection } = captured;
    return { backend: 'qdrant', model, dimension, distance, points, collection, file: QDRANT_SNAPSHOT_FILE };
  }
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
  const configured = config.qdrant ? 'qdrant' : 'embedded';
  if (info.backend !== configured) {
    const name = (b: string) => (b === 'qdrant' ? 'a Qdrant collection' : 'the embedded index');
    throw new NfrError(
      'SCHEMA_MISMATCH',
      `the snapshot's vector index is ${name(info.backend)} but this configuration uses ${name(configured)}${config.qdrant ? ' (QDRANT_URL is set)' : ' (QDRANT_URL is not set)'}; restore it with the configuration it was taken with`,
    );
  }
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
  /** The Qdrant collection to make live at the switch, when the index is a Qdrant one. */
  readonly collection: StagedCollection | null;
}

/** Copies (or, to Qdrant, uploads) the snapshot's parts next to the live ones; nothing live changes yet. */
export async function stageFiles(ctx: FilesContext, snapshotDir: string, manifest: Manifest): Promise<StagedFiles> {
  const { config } = ctx;
  await discardStaged(ctx);
  const data = manifest.contains.ingested_files;
  const index = manifest.contains.vector_index;
  let collection: StagedCollection | null = null;
  try {
    if (data) await copyTree(path.join(snapshotDir, DATA_DIR), config.dataIngestedPath + INCOMING, () => true);
    if (index && manifest.index?.backend === 'qdrant') {
      collection = await stageQdrant(ctx, snapshotDir, manifest);
    } else if (index) {
      // The fault point sits after each copied index file, so a test can fail the index part half-way.
      await copyTree(path.join(snapshotDir, INDEX_DIR), config.indexPath + INCOMING, () => true, () => faultPoint('index-staging'));
    } else {
      // This restore keeps the live index: the one an earlier restore replaced must not come
      // back with an undo of this one.
      if (config.qdrant) await (await import('../index/qdrant-snapshot.js')).forgetPrevious(await qdrant(config));
      else await rm(config.indexPath + PREVIOUS, { recursive: true, force: true });
    }
  } catch (err) {
    await discardStaged(ctx).catch(() => {});
    const e = toNfrError(err);
    throw new NfrError(e.code, `staging the ${index ? 'vector index and ' : ''}ingested files of ${manifest.id} failed, so nothing live was changed: ${e.message}`, { cause: err });
  }
  return { index, data, collection };
}

async function stageQdrant(ctx: FilesContext, snapshotDir: string, manifest: Manifest): Promise<StagedCollection> {
  const info = manifest.index as IndexInfo;
  const rel = info.file ?? QDRANT_SNAPSHOT_FILE;
  const entry = manifest.files.find((f) => f.path === rel);
  if (!entry) throw new NfrError('VERIFY_FAILED', `manifest of ${manifest.id} lists no ${rel}, the Qdrant collection snapshot it says it contains`);
  const [q, { stageCollection }] = await Promise.all([qdrant(ctx.config), import('../index/qdrant-snapshot.js')]);
  return stageCollection(q, qdrantJournal(ctx), path.join(snapshotDir, rel), {
    model: info.model,
    dimension: info.dimension,
    distance: info.distance as Distance,
    points: info.points,
    size: entry.size,
    sha256: entry.sha256,
  });
}

/** Puts the staged parts in place (renames; the Qdrant alias switch), keeping the replaced ones for undo. */
export async function swapStagedFiles(ctx: FilesContext, staged: StagedFiles): Promise<void> {
  const { config } = ctx;
  if (staged.data) await replaceDir(config.dataIngestedPath, config.dataIngestedPath + INCOMING);
  if (staged.collection) {
    const [q, { switchCollection }] = await Promise.all([qdrant(config), import('../index/qdrant-snapshot.js')]);
    try {
      await switchCollection(q, qdrantJournal(ctx), staged.collection);
    } catch (err) {
      const e = toNfrError(err);
      throw new NfrError(e.code, `the database and ingested files were swapped, but making Qdrant collection ${staged.collection.collection} live failed: ${e.message}. The next nfr snapshot command (e.g. \`nfr snapshot status\`) completes the switch`, { cause: err });
    }
  } else if (staged.index) {
    await replaceDir(config.indexPath, config.indexPath + INCOMING);
  }
}

/**
 * Before undo swaps the database back: Qdrant must answer, so that the index is not left behind
 * by an unreachable server after the database has been swapped.
 */
export async function assertPreviousFilesReachable(ctx: FilesContext): Promise<void> {
  if (ctx.config.qdrant) await (await qdrant(ctx.config)).state();
}

/** Exchanges the live parts with the ones the last full restore replaced (undo). */
export async function swapPreviousFiles(ctx: FilesContext): Promise<boolean> {
  const { config } = ctx;
  let swapped = false;
  if (config.qdrant) {
    const [q, { exchangePrevious }] = await Promise.all([qdrant(config), import('../index/qdrant-snapshot.js')]);
    swapped = await exchangePrevious(q);
  }
  for (const live of config.qdrant ? [config.dataIngestedPath] : [config.dataIngestedPath, config.indexPath]) {
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

export interface DiscardReport {
  /** Qdrant collections of an unfinished restore that were deleted. */
  readonly dropped_collections: string[];
  /** A restore killed after its database swap had its Qdrant switch completed. */
  readonly completed_index_switch: boolean;
}

/**
 * Removes what an unfinished restore staged: the `.nfr-incoming` copies and, with Qdrant, the
 * collections it created (or, if it was killed after its database swap, completes its switch).
 */
export async function discardStaged(ctx: FilesContext): Promise<DiscardReport> {
  const { config } = ctx;
  for (const live of [config.dataIngestedPath, config.indexPath]) {
    await rm(live + INCOMING, { recursive: true, force: true });
    await rm(live + SWAP, { recursive: true, force: true });
  }
  const journal = qdrantJournal(ctx);
  // Only a restore that staged a collection leaves a journal: other operations never ask Qdrant.
  if (!(await pathExists(journal))) return { dropped_collections: [], completed_index_switch: false };
  if (!config.qdrant) {
    throw new NfrError('CONFIG', `an unfinished restore left Qdrant collections named in ${journal}, but QDRANT_URL is not set; run nfr with the Qdrant settings once so it can clean up`);
  }
  const [q, { discardStagedCollections }] = await Promise.all([qdrant(config), import('../index/qdrant-snapshot.js')]);
  const r = await discardStagedCollections(q, journal);
  return { dropped_collections: r.dropped, completed_index_switch: r.completed_switch };
}

function qdrantJournal(ctx: FilesContext): string {
  return path.join(ctx.store.stateDir, QDRANT_JOURNAL);
}

/** The Qdrant backend's collections, loaded on demand (most commands never need the client). */
async function qdrant(config: Config): Promise<QdrantCollections> {
  if (!config.qdrant) throw new NfrError('CONFIG', 'QDRANT_URL is not set');
  const { QdrantCollections } = await import('../index/qdrant-collections.js');
  return new QdrantCollections(config.qdrant);
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
