/**
 * `node dist/bench/search/ivf-sweep.js`: how the embedded index's lists (src/index/ivf.ts) trade
 * rows read against recall@10, for tuning its constants. GloVe vectors of the NIST sample plus
 * generated controls (BENCH_IVF_POINTS in all, default 10000); the bench questions and the NIST
 * titles as queries; for each number of lists (BENCH_IVF_FACTORS × √points, default 1,2,4) and
 * probe share: recall@10 against the exact scan, the share of rows read and the build time.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { embedGlove, loadGloveTable } from '../../src/enrich/glove-embedder.js';
import { generationFiles, RowAppender } from '../../src/index/embedded-files.js';
import { buildIvf, listSizes, probedLists, readIvf } from '../../src/index/ivf.js';
import { dot, TopK } from '../../src/index/top-k.js';
import { controlText } from '../../src/ingest/text.js';
import { controlsCsvLines } from '../ingest/dataset.js';
import { runBench } from '../main.js';

const DIMENSION = 100;

async function run(): Promise<void> {
  const n = Number(process.env.BENCH_IVF_POINTS ?? 10000);
  const factors = (process.env.BENCH_IVF_FACTORS ?? '1,2,4').split(',').map(Number);
  const dir = await mkdtemp(path.join(tmpdir(), 'nfr-ivf-sweep-'));
  try {
    const table = await loadGloveTable(path.join(dir, 'models'));
    const nist = parse(await readFile(new URL('../../../samples/nist-800-53r5-high.csv', import.meta.url), 'utf8'), { columns: true, bom: true }) as { control_title: string; control_description: string }[];
    const texts = nist.map((c) => controlText(c.control_title, c.control_description));
    const generated = parse([...controlsCsvLines({ rows: Math.max(0, n - texts.length), seed: 24 })].join(''), { columns: true }) as { title: string; description: string }[];
    texts.push(...generated.map((g) => controlText(g.title, g.description)));
    const vectors = texts.map((t) => embedGlove(table, t));
    const questions = (JSON.parse(await readFile(new URL('../../../bench/search/questions.json', import.meta.url), 'utf8')) as { questions: { q: string }[] }).questions;
    const queries = [...questions.map((x) => x.q), ...nist.map((c) => c.control_title)].map((q) => embedGlove(table, q));
    const out = await RowAppender.create(generationFiles(dir), DIMENSION);
    for (const v of vectors) await out.append('{}', v);
    await out.close(false);
    const squares = vectors.map((v) => dot(v, 0, v, 0, DIMENSION));
    const exact = queries.map((q) => {
      const top = new TopK(10);
      const qq = dot(q, 0, q, 0, DIMENSION);
      for (const [r, v] of vectors.entries()) top.offer(r, dot(q, 0, v, 0, DIMENSION) / Math.sqrt(qq * (squares[r] as number)));
      return top.sorted().map((x) => x.row);
    });
    for (const factor of factors) {
      const lists = Math.round(Math.sqrt(n) * factor);
      const t0 = performance.now();
      await buildIvf(dir, { dimension: DIMENSION, distance: 'Cosine', points: n }, { minPoints: 0, lists });
      const built = performance.now() - t0;
      const ivf = await readIvf(dir, { dimension: DIMENSION, points: n });
      if (!ivf) throw new Error('no lists built');
      const sizes = listSizes(ivf);
      for (const share of [0.05, 0.1, 0.15, 0.2, 0.3]) {
        let found = 0;
        let read = 0;
        for (const [i, q] of queries.entries()) {
          const probed = probedLists(ivf, q, 10, sizes, share);
          for (const r of exact[i] ?? []) if (probed[ivf.assignment[r] as number]) found++;
          for (let c = 0; c < ivf.lists; c++) if (probed[c]) read += sizes[c] as number;
        }
        process.stdout.write(`lists ${lists} (built in ${built.toFixed(0)} ms), share ${share}: recall@10 ${(found / 10 / queries.length).toFixed(4)}, rows read ${((read / queries.length / n) * 100).toFixed(1)} %\n`);
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

runBench(run);
