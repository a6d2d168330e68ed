/**
 * Loads realistic data through the product itself, the way an operator would: migrate, generate
 * a sample, ingest context and controls, build the vector index, take the snapshot the restore
 * phase puts back. Each step's result is checked, so a benchmark never measures an empty database.
 */
import path from 'node:path';
import type { Workspace } from './workspace.js';

export interface Dataset {
  readonly controls: number;
  /** The snapshot taken after loading, restored under load later. */
  readonly snapshotId: string;
  readonly snapshotBytes: number;
  /** Wall-clock seconds of each loading step. */
  readonly seconds: Record<string, number>;
}

interface IngestControlsOut {
  controls: { inserted: number };
  error_count: number;
}

interface IngestContextOut {
  ok: boolean;
}

interface IndexOut {
  points: number;
}

interface SnapshotOut {
  id: string;
  total_bytes: number;
}

export async function loadDataset(ws: Workspace, controls: number, log: (line: string) => void): Promise<Dataset> {
  const seconds: Record<string, number> = {};
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const out = await fn();
    seconds[name] = Math.round((performance.now() - t0) / 10) / 100;
    log(`  ${name}: ${seconds[name]} s`);
    return out;
  };

  await step('migrate', () => ws.nfr(['db', 'migrate']));
  await step('sample', () => ws.nfr(['sample', 'generate', '--out', ws.sampleDir, '--controls', String(controls)]));
  const context = await step('ingest context', () => ws.nfrJson<IngestContextOut>(['ingest', 'context', '--path', path.join(ws.sampleDir, 'context')]));
  if (!context.ok) throw new Error('nfr ingest context rejected files of the generated sample');
  const ingested = await step('ingest controls', () => ws.nfrJson<IngestControlsOut>(['ingest', 'controls', path.join(ws.sampleDir, 'controls.csv')]));
  if (ingested.controls.inserted !== controls || ingested.error_count !== 0) {
    throw new Error(`nfr ingest controls inserted ${ingested.controls.inserted} of ${controls} controls (${ingested.error_count} errors)`);
  }
  const index = await step('index', () => ws.nfrJson<IndexOut>(['index']));
  if (index.points !== controls) throw new Error(`nfr index holds ${index.points} points, expected ${controls}`);
  const snapshot = await step('snapshot', () => ws.nfrJson<SnapshotOut>(['snapshot', 'create', '--name', 'bench']));
  return { controls, snapshotId: snapshot.id, snapshotBytes: snapshot.total_bytes, seconds };
}
