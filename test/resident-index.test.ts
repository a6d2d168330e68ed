/**
 * The server's in-memory copy of the embedded index (column layout, WebAssembly SIMD sums)
 * against the streamed search the CLI runs over the same files: the same controls and the same
 * scores to the bit, for every distance, dense and sparse queries, dimensions that are not a
 * multiple of four, odd row counts and filters. Real generation files in a temporary directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Distance } from '../src/enrich/embedder.js';
import { embedLocal } from '../src/enrich/local-embedder.js';
import { BLOCK_ROWS, columnStore } from '../src/index/column-kernel.js';
import { EmbeddedIndex } from '../src/index/embedded.js';
import { TopK } from '../src/index/top-k.js';
import type { IndexPoint, SearchFilter } from '../src/index/types.js';
import { random } from './support/random.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function point(i: number, vector: Float32Array): IndexPoint {
  return {
    vector,
    payload: {
      control_id: `CTRL-${String(i).padStart(6, '0')}`,
      title: `control ${i}`,
      status: i % 3 === 0 ? 'retired' : 'active',
      owning_function_id: null,
      risk_theme_ids: i % 5 === 0 ? ['RT-1'] : [],
      owning_location_id: null,
      family_id: ['AC', 'AU', 'SC'][i % 3] as string,
      key_control: i % 2 === 0,
      text_hash: `t${i}`,
      payload_hash: `p${i}`,
      model: 'test-model',
    },
  };
}

async function generation(distance: Distance, dimension: number, vectors: readonly Float32Array[]): Promise<string> {
  const location = await mkdtemp(path.join(tmpdir(), 'nfr-resident-'));
  dirs.push(location);
  const writer = await new EmbeddedIndex(location).begin({ model: 'test-model', dimension, distance }, { reset: true });
  await writer.upsert(vectors.map((v, i) => point(i, v)));
  await writer.commit('signature');
  return location;
}

/** Both searches of one location: resident (the server's) and streamed (the CLI's). */
async function both(location: string, query: Float32Array, limit: number, filter?: SearchFilter) {
  const resident = await new EmbeddedIndex(location, { residentMaxBytes: 1 << 30 }).search(query, limit, filter);
  const streamed = await new EmbeddedIndex(location).search(query, limit, filter);
  return { resident, streamed };
}

describe('the resident embedded index', () => {
  it('keeps the same best rows whatever order they are offered in, ties to the earlier row', () => {
    const scores = [0.5, 0.9, 0.5, 0.7, 0.5, 0.9, 0.1, 0.5];
    const best = (order: number[]) => {
      const top = new TopK(4);
      for (const row of order) top.offer(row, scores[row] as number);
      return top.sorted();
    };
    const inOrder = best([0, 1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(inOrder.map((b) => b.row), [1, 5, 3, 0]);
    assert.deepEqual(best([7, 6, 5, 4, 3, 2, 1, 0]), inOrder);
    assert.deepEqual(best([4, 2, 7, 0, 6, 5, 3, 1]), inOrder);
  });

  it('sums a column in WebAssembly exactly as JavaScript does', () => {
    const next = random(7);
    const rows = 1001;
    const simd = columnStore(rows, 3);
    const js = columnStore(rows, 3, { forceJs: true });
    assert.equal(simd.simd, true, 'WebAssembly SIMD is available in Node 20 and later');
    assert.equal(js.simd, false);
    assert.equal(simd.stride, 1002, 'rows rounded up to even');
    for (let i = 0; i < simd.stride * 3; i++) {
      const v = Math.fround(next() * 2 - 1);
      simd.columns[i] = v;
      js.columns[i] = v;
    }
    for (let round = 0; round < 5; round++) {
      for (let c = 0; c < 3; c++) {
        const q = next() * 3 - 1.5;
        simd.axpy(q, c, (c % 4) as 0 | 1 | 2 | 3, 0, simd.stride);
        js.axpy(q, c, (c % 4) as 0 | 1 | 2 | 3, 0, js.stride);
      }
    }
    // A block in the middle of the column, into the start of the sums.
    simd.axpy(0.25, 2, 3, 500, 200);
    js.axpy(0.25, 2, 3, 500, 200);
    for (let k = 0; k < 4; k++) assert.deepEqual(simd.sums[k], js.sums[k], `sum ${k}`);
    assert.notEqual(simd.sums[0][17], 0);
    assert.notEqual(simd.sums[3][5], 0);
    // Cosines from the four sums, as cosine() computes them; a zero vector's row is NaN.
    for (let r = 0; r < simd.stride; r++) {
      const vv = r === 40 ? 0 : next() * 2;
      simd.squares[r] = vv;
      js.squares[r] = vv;
    }
    for (const store of [simd, js]) for (const sum of store.sums) sum[10] = 0; // row 40 is a zero vector: its sums are 0
    simd.cosines(0.7, 30, 600);
    js.cosines(0.7, 30, 600);
    assert.deepEqual(simd.sums[0], js.sums[0]);
    assert.ok(Number.isNaN(simd.sums[0][10]), 'a zero vector gives NaN (search reads it as cosine()\'s 0)');
    assert.ok(Number.isFinite(simd.sums[0][11]) && simd.sums[0][11] !== 0);
  });

  it('scores dense 100-dimension queries across blocks like the streamed search', async () => {
    const next = random(5);
    const rows = BLOCK_ROWS + 301;
    const vectors = Array.from({ length: rows }, () => Float32Array.from({ length: 100 }, () => next() * 2 - 1));
    const location = await generation('Cosine', 100, vectors);
    for (const query of [vectors[rows - 2] as Float32Array, Float32Array.from({ length: 100 }, () => next() - 0.5)]) {
      const { resident, streamed } = await both(location, query, 40, undefined);
      assert.deepEqual(resident, streamed);
    }
  });

  for (const distance of ['Cosine', 'Dot', 'Euclid'] as const) {
    it(`scores ${distance} like the streamed search, dense and sparse queries, with filters`, async () => {
      const next = random(distance.length * 31);
      const dimension = 10; // two past the last multiple of four: dot()'s tail
      const vectors = Array.from({ length: 257 }, (_, i) => Float32Array.from({ length: dimension }, (_, d) => (i === 5 ? 0 : next() * 2 - 1) * (d === 3 ? 0 : 1)));
      vectors.push(Float32Array.from(vectors[10] as Float32Array)); // an exact tie: the earlier row first
      const location = await generation(distance, dimension, vectors);
      const dense = Float32Array.from({ length: dimension }, () => next() * 2 - 1);
      const sparse = new Float32Array(dimension);
      sparse[1] = 0.6;
      sparse[9] = -0.8;
      for (const [name, query] of [['dense', dense], ['sparse', sparse], ['the tied vector', vectors[10] as Float32Array]] as const) {
        for (const [limit, filter] of [[20, undefined], [258, undefined], [7, { family_id: ['AU'], key_control: true }], [5, { risk_theme_id: ['RT-1'] }]] as const) {
          const { resident, streamed } = await both(location, query, limit, filter);
          assert.ok(resident.length > 0, `${name}: found`);
          assert.deepEqual(resident, streamed, `${name}, limit ${limit}, filter ${JSON.stringify(filter)}`);
        }
      }
      const { resident } = await both(location, vectors[10] as Float32Array, 2);
      if (distance !== 'Dot') assert.deepEqual(resident.map((h) => h.control_id), ['CTRL-000010', 'CTRL-000257']);
    });
  }

  it('scores across blocks of rows like the streamed search', async () => {
    const next = random(99);
    const rows = 2 * BLOCK_ROWS + 37; // two whole blocks and an odd part of a third
    const vectors = Array.from({ length: rows }, () => Float32Array.from({ length: 6 }, () => next() * 2 - 1));
    const location = await generation('Cosine', 6, vectors);
    const sparse = Float32Array.from([0, 0.5, 0, 0, -0.5, 0.1]);
    for (const [query, limit, filter] of [[sparse, 30, undefined], [vectors[rows - 1] as Float32Array, 10, undefined], [sparse, 12, { status: ['retired'] }]] as const) {
      const { resident, streamed } = await both(location, query, limit, filter);
      assert.equal(resident.length, limit);
      assert.deepEqual(resident, streamed);
    }
    const { resident } = await both(location, vectors[rows - 1] as Float32Array, 1);
    assert.equal(resident[0]?.control_id, `CTRL-${String(rows - 1).padStart(6, '0')}`, 'the last row, in the partial block, is found');
  });

  it('scores the local embedder’s sparse question vectors like the streamed search', async () => {
    const texts = Array.from({ length: 300 }, (_, i) => `control ${i}: ${['audit records are retained', 'accounts are reviewed', 'information flows are enforced', 'backups are tested'][i % 4]} for system ${i % 17}`);
    const location = await generation('Cosine', 384, texts.map((t) => embedLocal(t)));
    for (const q of ['how long do we keep audit records', 'review of user accounts', 'is the backup restore tested']) {
      const query = embedLocal(q);
      assert.ok(query.filter((x) => x !== 0).length < 100, 'a question sets few dimensions');
      const { resident, streamed } = await both(location, query, 25);
      assert.deepEqual(resident, streamed, q);
    }
  });
});
