/**
 * The parts of a full snapshot beside the PostgreSQL archive: the vector index and
 * DATA_INGESTED_PATH, checksummed with the archive in the same manifest.
 *
 * - Embedded index: its live generation's files, under `index/`. On restore they are copied next
 *   to the live directory (`<dir>.nfr-incoming`), put in place by rename right after the
 *   PostgreSQL swap, and the replaced directory is kept as `<dir>.nfr-prev` for undo.
 * - An index held by a server: the snapshot file its backend made, under `index/`, staged and
 *   switched live by that backend (src/index/snapshot.ts names the backends).
 * - DATA_INGESTED_PATH: its files under `data/`, staged and swapped like the embedded index.
 *
 * A failure before the swap leaves every live part untouched. Runs under the operation lock,
 * which ingestion and index syncs also take, so the three parts describe one moment.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import type { Distance } from '../enrich/embedder.js';
import { messageOf, NfrError, toNfrError } from '../errors.js';
import { backendMismatch, indexSnapshots, type CapturedIndex, type DiscardedIndex, type IndexSnapshots, type StagedIndex } from '../index/snapshot.js';
import { copyTree, discardStagedDir, exchangeWithPrevious, INCOMING, replaceDir, stagedDirLeftovers } from '../util/dir-swap.js';
import type { Manifest } from './manifest.js';
import type { SnapshotStore } from '../runtime/context.js';

export const INDEX_DIR = 'index';
export const DATA_DIR = 'data';

export type IndexInfo = NonNullable<Manifest['index']>;

/** What the full-snapshot parts need of a snapshot context. */
export interface FilesContext {
  readonly config: Config;
  readonly store: SnapshotStore;
}

function indexOf(ctx: FilesContext): IndexSnapshots {
  return indexSnapshots(ctx.config, ctx.store.stateDir);
}

/** Copies the ingested files and the live index (whatever its backend) into the snapshot directory. */
export async function captureFiles(ctx: FilesContext, work: string): Promise<IndexInfo | null> {
  await copyTree(ctx.config.dataIngestedPath, path.join(work, DATA_DIR), (rel) => !rel.startsWith('.incoming'));
  const dir = path.join(work, INDEX_DIR);
  const captured = await indexOf(ctx).capture(dir);
  if (!captured) {
    await rm(dir, { recursive: true, force: true });
    return null; // no index built yet
  }
  const { file, collection, ...info } = captured;
  // The manifest names the index file relative to the snapshot directory.
  return { ...info, ...(collection === undefined ? {} : { collection }), ...(file === undefined ? {} : { file: `${INDEX_DIR}/${file}` }) };
}

/** Refuses a snapshot whose index was built by another backend or embedder than the configured one. */
export async function assertIndexCompatible(config: Config, info: IndexInfo | null | undefined): Promise<void> {
  if (!info) return;
  const mismatch = backendMismatch(config, info.backend);
  if (mismatch) throw new NfrError('SCHEMA_MISMATCH', mismatch);
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
  readonly index: StagedIndex | null;
  readonly data: boolean;
}

/** Stages the snapshot's parts next to the live ones (the index as its backend does); nothing live changes yet. */
export async function stageFiles(ctx: FilesContext, snapshotDir: string, manifest: Manifest): Promise<StagedFiles> {
  const { config } = ctx;
  await discardStaged(ctx);
  const data = manifest.contains.ingested_files;
  const withIndex = manifest.contains.vector_index;
  const index = indexOf(ctx);
  let staged: StagedIndex | null = null;
  try {
    if (data) await copyTree(path.join(snapshotDir, DATA_DIR), config.dataIngestedPath + INCOMING, () => true);
    if (withIndex && manifest.index) {
      staged = await index.stage({
        dir: path.join(snapshotDir, INDEX_DIR),
        captured: capturedIndex(manifest.index),
        snapshotId: manifest.id,
        fileEntry: (rel) => manifest.files.find((f) => f.path === `${INDEX_DIR}/${rel}`),
      });
    } else if (!withIndex) {
      // This restore keeps the live index: the one an earlier restore replaced must not come
      // back with an undo of this one.
      await index.forgetPrevious();
    }
  } catch (err) {
    await discardStaged(ctx).catch(() => {});
    const e = toNfrError(err);
    throw new NfrError(e.code, `staging the ${withIndex ? 'vector index and ' : ''}ingested files of ${manifest.id} failed, so nothing live was changed: ${e.message}`, { cause: err });
  }
  return { index: staged, data };
}

/** The manifest's record of an index as its backend reads it (file relative to the index directory). */
function capturedIndex(info: IndexInfo): CapturedIndex {
  const file = info.file?.startsWith(`${INDEX_DIR}/`) ? info.file.slice(INDEX_DIR.length + 1) : info.file;
  return { ...info, distance: info.distance as Distance, file };
}

/** Puts the staged parts in place (renames; the index as its backend does), keeping the replaced ones for undo. */
export async function swapStagedFiles(ctx: FilesContext, staged: StagedFiles): Promise<void> {
  if (staged.data) await replaceDir(ctx.config.dataIngestedPath);
  if (staged.index) await indexOf(ctx).switchLive(staged.index);
}

/**
 * Before undo swaps the database back: the index backend must answer, so that the index is not
 * left behind by an unreachable server after the database has been swapped.
 */
export async function assertPreviousFilesReachable(ctx: FilesContext): Promise<void> {
  await indexOf(ctx).checkReachable();
}

/** Exchanges the live parts with the ones the last full restore replaced (undo). */
export async function swapPreviousFiles(ctx: FilesContext): Promise<boolean> {
  const index = await indexOf(ctx).exchangePrevious();
  const data = await exchangeWithPrevious(ctx.config.dataIngestedPath);
  return index || data;
}

export type DiscardReport = DiscardedIndex;

/** What discardStaged would remove: staged copies beside the live directories, the index backend's leftovers. Reads only. */
export async function stagedLeftovers(ctx: FilesContext): Promise<string[]> {
  return [...(await stagedDirLeftovers(ctx.config.dataIngestedPath)), ...(await indexOf(ctx).leftovers())];
}

/** The event-log line for what discardStaged did after a killed restore, in the index backend's words; undefined if nothing worth recording. */
export function describeDiscarded(ctx: FilesContext, report: DiscardReport): string | undefined {
  return indexOf(ctx).describeDiscarded(report);
}

/** The event-log line when discardStaged failed (the index backend may be unreachable). */
export function describeDiscardFailure(ctx: FilesContext, err: unknown): string {
  return indexOf(ctx).describeDiscardFailure(messageOf(err));
}

/**
 * Removes what an unfinished restore staged: the `.nfr-incoming` copies and the index's staged
 * part (or, if the restore was killed after its database swap, completes its index switch).
 */
export async function discardStaged(ctx: FilesContext): Promise<DiscardReport> {
  await discardStagedDir(ctx.config.dataIngestedPath);
  return indexOf(ctx).discard();
}
