/**
 * The embedded index's lists for dense vectors (src/index/ivf.ts): recall@10 of the approximate
 * search against the exact scan on GloVe vectors of the real NIST controls plus generated ones
 * (the bench's generator), ≥ 0.95, for the server's resident search and the CLI's streamed one,
 * which return the same results; deterministic lists; filters; generations that get no lists.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import { controlsCsvLines } from '../bench/ingest/dataset.js';
import { embedGlove, GLOVE_DIMENSION, GLOVE_MODEL, loadGloveTable, type GloveTable } from '../src/enrich/glove-embedder.js';
import { embedLocal, LOCAL_DIMENSION, LOCAL_MODEL } from '../src/enrich/local-embedder.js';
import { controlText } from '../src/ingest/text.js';
import { EmbeddedIndex } from '../src/index/embedded.js';
import { ResidentGeneration } from '../src/index/embedded-resident.js';
import { readMeta } from '../src/index/embedded-files.js';
import { IVF_FILE, readIvf } from '../src/index/ivf.js';
import type { IndexPoint, SearchHit } from '../src/index/types.js';
import { readNistControls } from './support/enrich-fixtures.js';

/** NIST's 370 controls and generated ones, 10,000 in all: above the size lists are built for. */
const POINTS = 10_000;
let root: string;
let table: GloveTable;
let texts: { id: string; text: string; family: string }[];
let queries: string[];

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'nfr-ivf-'));
  table = await loadGloveTable(path.join(root, 'models'));
  const nist = await readNistControls();
  texts = nist.map((c) => ({ id: c.control_id, text: controlText(c.control_title, c.control_description), family: c.family_id }));
  const generated = parse([...controlsCsvLines({ rows: POINTS - texts.length, seed: 24 })].join(''), { columns: true }) as { control_id: string; title: string; description: string; family_id: string }[];
  texts.push(...generated.map((g) => ({ id: g.control_id, text: controlText(g.title, g.description), family: g.family_id })));
  const questions = (JSON.parse(await readFile(new URL('../../bench/search/questions.json', import.meta.url), 'utf8')) as { questions: { q: string }[] }).questions.map((x) => x.q);
  // The bench's questions, and the NIST titles as questions of their own.
  queries = [...questions, ...nist.map((c) => c.control_title)];
});

after(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

function points(embed: (text: string) => Float32Array, model: string): IndexPoint[] {
  return texts.map(({ id, text, family }) => ({
    vector: embed(text),
    payload: { control_id: id, title: text.split('\n')[0] as string, status: 'active', owning_function_id: null, risk_theme_ids: [], owning_location_id: null, family_id: family, key_control: id.length % 2 === 0, text_hash: id, payload_hash: id, model },
  }));
}

async function build(location: string, embed: (text: string) => Float32Array, model: { model: string; dimension: number }, ivf = {}): Promise<string> {
  const index = new EmbeddedIndex(location, { ivf });
  const writer = await index.begin({ ...model, distance: 'Cosine' }, { reset: true });
  const all = points(embed, model.model);
  for (let i = 0; i < all.length; i += 1000) await writer.upsert(all.slice(i, i + 1000));
  await writer.commit('signature');
  const cur = await index.current();
  assert.ok(cur);
  return cur.dir;
}

let scratches = 0;
/** A fresh index location under the test's directory. */
const scratch = (name: string) => path.join(root, `${name}-${++scratches}`);

const ids = (hits: readonly SearchHit[]) => hits.map((h) => h.control_id);

/** Mean share of the exact top `k` found in the approximate top `k`. */
function recall(exact: readonly SearchHit[][], approx: readonly SearchHit[][], k: number): number {
  let sum = 0;
  exact.forEach((e, i) => {
    const want = new Set(ids(e.slice(0, k)));
    sum += ids((approx[i] as SearchHit[]).slice(0, k)).filter((id) => want.has(id)).length / Math.max(1, want.size);
  });
  return sum / exact.length;
}

describe('approximate index (IVF) for dense vectors', () => {
  let location: string;
  let dir: string;
  const glove = (text: string) => embedGlove(table, text);

  before(async () => {
    location = scratch('ivf-glove');
    dir = await build(location, glove, { model: GLOVE_MODEL, dimension: GLOVE_DIMENSION });
  });

  it('finds ≥ 95 % of the exact top 10 on GloVe vectors of NIST and generated controls, with the same scores', async () => {
    const meta = await readMeta(dir);
    const ivf = await readIvf(dir, meta);
    assert.ok(ivf, 'a 10,000-row GloVe generation has lists');
    assert.equal(ivf.lists, 200);
    const exact = await ResidentGeneration.load(dir, meta, undefined, { layout: 'dense' });
    const approximate = await ResidentGeneration.load(dir, meta);
    assert.equal(approximate.layout, 'ivf');
    for (const limit of [10, 51]) {
      const want: SearchHit[][] = [];
      const got: SearchHit[][] = [];
      for (const q of queries) {
        const v = glove(q);
        want.push(exact.search(v, limit, undefined));
        got.push(approximate.search(v, limit, undefined));
      }
      const r10 = recall(want, got, 10);
      process.stderr.write(`ivf recall@10 (limit ${limit}) over ${queries.length} queries: ${r10.toFixed(4)}\n`);
      assert.ok(r10 >= 0.95, `recall@10 ${r10} at limit ${limit}`);
      // Each hit scored exactly as the full scan scores it.
      let compared = 0;
      got.forEach((hits, i) => {
        const scores = new Map((want[i] as SearchHit[]).map((h) => [h.control_id, h.score]));
        for (const h of hits) {
          const s = scores.get(h.control_id);
          if (s === undefined) continue;
          assert.equal(h.score, s, h.control_id);
          compared++;
        }
      });
      assert.ok(compared > queries.length * 5);
    }
  });

  it('gives the CLI (streamed from disk) the same results as the server (resident), with and without filters', async () => {
    const streamed = new EmbeddedIndex(location);
    const resident = await ResidentGeneration.load(dir, await readMeta(dir));
    // Streaming reads every payload line for a filter: a few questions are enough here.
    for (const [i, q] of queries.slice(0, 12).entries()) {
      const v = glove(q);
      assert.deepEqual(await streamed.search(v, 10), resident.search(v, 10, undefined), q);
      const filter = i % 2 === 0 ? { family_id: ['AC'] } : { key_control: true };
      assert.deepEqual(await streamed.search(v, 10, filter), resident.search(v, 10, filter), q);
    }
  });

  it('filters before it cuts: a filtered query still fills its page from the passing rows', async () => {
    const meta = await readMeta(dir);
    const exact = await ResidentGeneration.load(dir, meta, undefined, { layout: 'dense' });
    const approximate = await ResidentGeneration.load(dir, meta);
    const want: SearchHit[][] = [];
    const got: SearchHit[][] = [];
    for (const [i, q] of queries.entries()) {
      // One NIST family (a few dozen rows of 10,000), or the key controls (half of them).
      const filter = i % 2 === 0 ? { family_id: ['AC'] } : { key_control: true };
      const v = glove(q);
      const hits = approximate.search(v, 10, filter);
      assert.equal(hits.length, 10, `${q}: a full page`);
      for (const h of hits) assert.ok(i % 2 === 0 ? h.family_id === 'AC' : h.key_control === true);
      want.push(exact.search(v, 10, filter));
      got.push(hits);
    }
    const r10 = recall(want, got, 10);
    process.stderr.write(`ivf recall@10 with filters: ${r10.toFixed(4)}\n`);
    assert.ok(r10 >= 0.95, `recall@10 with filters ${r10}`);
  });

  it('builds the same lists from the same vectors', async () => {
    const again = await build(scratch('ivf-again'), glove, { model: GLOVE_MODEL, dimension: GLOVE_DIMENSION });
    assert.deepEqual(await readFile(path.join(again, IVF_FILE)), await readFile(path.join(dir, IVF_FILE)));
  });

  it('builds no lists for a small generation or for the hashing embedder’s sparse vectors, which keep the exact scan', async () => {
    const small = await build(scratch('ivf-small'), glove, { model: GLOVE_MODEL, dimension: GLOVE_DIMENSION }, { minPoints: POINTS + 1 });
    await assert.rejects(stat(path.join(small, IVF_FILE)), { code: 'ENOENT' });
    const hashed = await build(scratch('ivf-hash'), embedLocal, { model: LOCAL_MODEL, dimension: LOCAL_DIMENSION });
    await assert.rejects(stat(path.join(hashed, IVF_FILE)), { code: 'ENOENT' });
    assert.equal((await ResidentGeneration.load(hashed, await readMeta(hashed))).layout, 'sparse');
  });
});
