/**
 * `npm run bench:search-memory`: how much memory `nfr serve` holds for search, by catalogue size.
 *
 * For each size of BENCH_MEMORY_SIZES (default 100000,200000): generated controls ingested (with
 * enrichment) and indexed into the embedded index with NFR_EMBEDDER's embedder (default hash);
 * then `nfr serve`, one hybrid and one semantic search (which wait for the resident rankings:
 * keyword postings and the index generation), and the server's VmHWM (peak) and VmRSS (steady,
 * after the searches) from /proc. Then an ingestion that changes 1 % of the controls and
 * `nfr index`, and searches again: the server rebuilds both rankings; VmHWM and VmRSS again.
 *
 * Targets (issue 24): at 100,000 controls with the default embedder, peak <= 400 MiB at start-up
 * and across the rebuild; at 200,000 peak <= steady + 64 MiB. Progress on stderr; the report and
 * a final `RESULT {json}` line on stdout. A missed target is a measurement, not a failure.
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { z } from 'zod';
import { clientConfig } from '../../src/postgres/connection.js';
import { BenchServer } from '../api/server.js';
import { Workspace } from '../api/workspace.js';
import { insertReferenceData, writeControlsCsv } from '../ingest/dataset.js';
import { runBench } from '../main.js';
import { processMemory, type ProcessMemory } from './memory-probe.js';

const log = (line: string) => process.stderr.write(`${line}\n`);
const TOKEN = 'bench-search-reader-token-0123456789';

const settingsSchema = z.object({
  BENCH_DIR: z.string().min(1).optional(),
  PG_BIN_DIR: z.string().min(1).optional(),
  BENCH_MEMORY_SIZES: z.string().regex(/^\d+(,\d+)*$/, 'sizes like 100000,200000').optional(),
  NFR_EMBEDDER: z.string().optional(),
  NFR_INDEX_MEMORY_MB: z.string().optional(),
});

/** Two searches that need both resident rankings; throws when one does not answer 200. */
export async function warmSearches(server: BenchServer, token: string): Promise<void> {
  for (const mode of ['hybrid', 'semantic']) {
    const r = await server.call('GET', `/api/v2/controls/search?q=${encodeURIComponent('quarterly review of privileged access')}&mode=${mode}&limit=10`, token);
    if (r.status !== 200) throw new Error(`search answered ${r.status}: ${r.text.slice(0, 300)}`);
  }
}

interface MemoryRow {
  readonly controls: number;
  readonly embedder: string;
  readonly start: ProcessMemory;
  readonly rebuild: ProcessMemory;
  readonly first_search_ms: number;
  readonly rebuild_search_ms: number;
}

async function measureSize(parent: string, pgBinDir: string | undefined, controls: number, nfrEnv: Record<string, string | undefined>): Promise<MemoryRow> {
  const ws = await Workspace.open(parent, pgBinDir);
  try {
    const client = new pg.Client(clientConfig(ws.cluster.target('bench_api'), 'nfr bench search memory'));
    await client.connect();
    try {
      await ws.nfr(['db', 'migrate']);
      await insertReferenceData(client);
    } finally {
      await client.end();
    }
    const file = path.join(ws.root, 'controls.csv');
    log(`bench: ${controls} generated controls: ingest (with enrichment) and index`);
    await writeControlsCsv(file, { rows: controls });
    await ws.nfr(['ingest', 'controls', file], nfrEnv);
    await ws.nfr(['index'], nfrEnv);
    const server = await BenchServer.start(ws.env({ API_TOKENS: `reader:${TOKEN}`, ...nfrEnv }));
    try {
      const t0 = performance.now();
      await warmSearches(server, TOKEN);
      const firstMs = Math.round(performance.now() - t0);
      const start = await processMemory(server.pid);
      log(`  ${controls}: after start-up peak ${start.peak_mib} MiB, steady ${start.rss_mib} MiB (first searches ${firstMs} ms)`);
      // 1 % of the controls change their text: both rankings are rebuilt by the next search.
      const changed = path.join(ws.root, 'changed.csv');
      await writeControlsCsv(changed, { rows: Math.max(1, Math.floor(controls / 100)), tag: 'revised' });
      await ws.nfr(['ingest', 'controls', changed], nfrEnv);
      await ws.nfr(['index'], nfrEnv);
      const t1 = performance.now();
      await warmSearches(server, TOKEN);
      const rebuildMs = Math.round(performance.now() - t1);
      const rebuild = await processMemory(server.pid);
      log(`  ${controls}: after the rebuild peak ${rebuild.peak_mib} MiB, steady ${rebuild.rss_mib} MiB (searches ${rebuildMs} ms)`);
      return { controls, embedder: nfrEnv.NFR_EMBEDDER ?? 'hash', start, rebuild, first_search_ms: firstMs, rebuild_search_ms: rebuildMs };
    } finally {
      await server.stop();
    }
  } finally {
    await ws.dispose();
  }
}

async function run(): Promise<void> {
  const parsed = settingsSchema.safeParse(process.env);
  if (!parsed.success) throw new Error(`invalid benchmark settings: ${parsed.error.issues.map((i) => `${String(i.path[0])}: expected ${i.message}`).join('; ')}`);
  const s = parsed.data;
  const sizes = (s.BENCH_MEMORY_SIZES ?? '100000,200000').split(',').map(Number);
  const nfrEnv = { NFR_EMBEDDER: s.NFR_EMBEDDER, NFR_INDEX_MEMORY_MB: s.NFR_INDEX_MEMORY_MB, EMBEDDINGS_URL: undefined };
  const rows: MemoryRow[] = [];
  for (const n of sizes) rows.push(await measureSize(s.BENCH_DIR ?? tmpdir(), s.PG_BIN_DIR, n, nfrEnv));
  const ok = (b: boolean) => (b ? 'met' : 'MISSED');
  const lines = [`search memory benchmark: nfr serve with the embedded index (embedder ${s.NFR_EMBEDDER ?? 'hash'})`];
  for (const r of rows) {
    const peak = Math.max(r.start.peak_mib, r.rebuild.peak_mib);
    lines.push(`  ${String(r.controls).padStart(7)} controls: start-up peak ${r.start.peak_mib} MiB, steady ${r.start.rss_mib} MiB; after a rebuild peak ${r.rebuild.peak_mib} MiB, steady ${r.rebuild.rss_mib} MiB`);
    if (r.controls === 100000) lines.push(`    target peak <= 400 MiB: ${ok(peak <= 400)}`);
    if (r.controls === 200000) lines.push(`    target peak <= steady + 64 MiB: ${ok(peak <= r.rebuild.rss_mib + 64)}`);
  }
  process.stdout.write([...lines, '', `RESULT ${JSON.stringify({ memory: rows })}`, ''].join('\n'));
}

runBench(run);
