/**
 * The compact resident state of `nfr serve` (issue 24 item 1): sparse vectors score exactly like
 * the dense columns and the streamed search, across the 65,536-row blocks of the sparse layout;
 * the column-wise attribute table filters exactly as matchesFilter() does on the objects; the
 * shared NFR_INDEX_MEMORY_MB budget refuses what does not fit, with a message saying what to do.
 * Real generation files in a temporary directory.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Distance } from '../src/enrich/embedder.js';
import { embedLocal } from '../src/enrich/local-embedder.js';
import { AttributeTable, type ControlAttributes } from '../src/index/attribute-table.js';
import { EmbeddedIndex } from '../src/index/embedded.js';
import { ResidentGeneration } from '../src/index/embedded-resident.js';
import { ResidentBudget, ResidentDoesNotFit } from '../src/index/resident-budget.js';
import { matchesFilter, type IndexPoint, type SearchFilter } from '../src/index/types.js';
import { random } from './support/random.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function attributes(i: number): ControlAttributes {
  return {
    control_id: `CTRL-${String(i).padStart(6, '0')}`,
    title: `control ${i}`,
    status: i % 7 === 0 ? null : i % 3 === 0 ? 'retired' : 'active',
    owning_function_id: i % 4 === 0 ? null : `F-${i % 5}`,
    risk_theme_ids: i % 5 === 0 ? ['RT-1', 'RT-2'] : i % 5 === 1 ? ['RT-2'] : [],
    owning_location_id: i % 6 === 0 ? null : `L-${i % 2}`,
    family_id: ['AC', 'AU', 'SC'][i % 3] as string,
    key_control: i % 11 === 0 ? null : i % 2 === 0,
  };
}

function point(i: number, vector: Float32Array): IndexPoint {
  return { vector, payload: { ...attributes(i), risk_theme_ids: [...attributes(i).risk_theme_ids], text_hash: `t${i}`, payload_hash: `p${i}`, model: 'test-model' } };
}

async function generation(distance: Distance, dimension: number, rows: number, vector: (i: number) => Float32Array): Promise<string> {
  const location = await mkdtemp(path.join(tmpdir(), 'nfr-resident-memory-'));
  dirs.push(location);
  const writer = await new EmbeddedIndex(location).begin({ model: 'test-model', dimension, distance }, { reset: true });
  for (let first = 0; first < rows; first += 5000) {
    await writer.upsert(Array.from({ length: Math.min(5000, rows - first) }, (_, k) => point(first + k, vector(first + k))));
  }
  await writer.commit('signature');
  return location;
}

const FILTERS: (SearchFilter | undefined)[] = [
  undefined,
  { family_id: ['AU'], key_control: true },
  { risk_theme_id: ['RT-1'] },
  { status: ['active', 'nonexistent'], owning_location_id: ['L-1'] },
  { owning_function_id: ['F-3'], risk_theme_id: ['RT-2', 'RT-9'] },
  { status: ['nonexistent'] },
];

describe('the resident generation, held sparsely', () => {
  for (const distance of ['Cosine', 'Dot'] as const) {
    it(`scores ${distance} in the sparse layout exactly as the dense one and the streamed search, across blocks`, async () => {
      // Blocks of 256 rows here (65,536 in use): three whole ones and part of a fourth.
      const next = random(distance.length * 7);
      const dimension = 42; // two past the last multiple of four: dot()'s tail
      const rows = 3 * 256 + 103;
      // About one value set in ten; row 9 a zero vector.
      const location = await generation(distance, dimension, rows, (i) => Float32Array.from({ length: dimension }, () => (i === 9 || next() > 0.1 ? 0 : next() * 2 - 1)));
      const current = await new EmbeddedIndex(location).current();
      assert.ok(current);
      const sparse = await ResidentGeneration.load(current.dir, current.meta, undefined, { blockBits: 8 });
      assert.equal(sparse.sparse, true, 'mostly zeros: held sparsely without being asked');
      const dense = await ResidentGeneration.load(current.dir, current.meta, undefined, { layout: 'dense' });
      assert.equal(dense.sparse, false);
      assert.ok(sparse.bytes < dense.bytes, `sparse ${sparse.bytes} < dense ${dense.bytes}`);
      const streamed = new EmbeddedIndex(location);
      const queries = [Float32Array.from({ length: dimension }, () => next() * 2 - 1), Float32Array.from({ length: dimension }, (_, d) => (d === 1 ? 0.5 : d === 41 ? -0.7 : d === 17 ? 0.2 : 0)), new Float32Array(dimension)];
      for (const query of queries) {
        for (const filter of FILTERS) {
          for (const limit of [1, 25]) {
            const want = await streamed.search(query, limit, filter);
            assert.deepEqual(sparse.search(query, limit, filter), want, `sparse, filter ${JSON.stringify(filter)}, limit ${limit}`);
            assert.deepEqual(dense.search(query, limit, filter), want, `dense, filter ${JSON.stringify(filter)}, limit ${limit}`);
          }
        }
      }
      // Every row, those of the partial last block too, in the same order with the same scores.
      const all = Float32Array.from({ length: dimension }, (_, d) => (d % 3 === 0 ? 0.3 : 0));
      assert.deepEqual(sparse.search(all, rows, undefined), await streamed.search(all, rows));
    });
  }

  it('holds the local embedder’s vectors sparsely and scores them as the streamed search', async () => {
    const texts = ['audit records are retained for a year', 'privileged accounts are reviewed quarterly', 'information flows are enforced at boundaries', 'backups are tested by restoring them'];
    const location = await generation('Cosine', 384, 600, (i) => embedLocal(`control ${i}: ${texts[i % 4]} at site ${i % 13}`));
    const current = await new EmbeddedIndex(location).current();
    assert.ok(current);
    const held = await ResidentGeneration.load(current.dir, current.meta);
    assert.equal(held.sparse, true);
    for (const q of ['how long do we keep audit records', 'review of admin accounts', 'is the backup restore tested']) {
      assert.deepEqual(held.search(embedLocal(q), 20, undefined), await new EmbeddedIndex(location).search(embedLocal(q), 20), q);
    }
  });

  it('refuses a generation that does not fit the budget before holding it, and says what to raise', async () => {
    const location = await generation('Cosine', 384, 300, (i) => embedLocal(`control ${i} about access reviews`));
    const current = await new EmbeddedIndex(location).current();
    assert.ok(current);
    const budget = new ResidentBudget(64 * 1024);
    budget.claim('keywords', 32 * 1024, 'the keyword rankings', 'keyword ranking runs in PostgreSQL');
    await assert.rejects(
      ResidentGeneration.load(current.dir, current.meta, (bytes) => budget.claim('generation', bytes, 'the vector index', 'searches read it from disk, slower')),
      (err: unknown) => err instanceof ResidentDoesNotFit && /the vector index need about \d+ MiB of memory beside the 1 MiB already resident, more than NFR_INDEX_MEMORY_MB=1 allows; searches read it from disk, slower \(raise NFR_INDEX_MEMORY_MB to \d+ or more/.test(err.message),
    );
    assert.equal(budget.others('keywords'), 0, 'the refused claim holds nothing');
    const roomy = new ResidentBudget(1 << 30);
    const held = await ResidentGeneration.load(current.dir, current.meta, (bytes) => roomy.claim('generation', bytes, 'the vector index', 'from disk'));
    assert.equal(roomy.others('keywords'), held.bytes, 'the claim is the estimate it holds');
  });
});

describe('the attribute table', () => {
  it('filters on its codes exactly as matchesFilter() does on the objects, and gives back the rows', () => {
    const rows = Array.from({ length: 500 }, (_, i) => attributes(i));
    const builder = AttributeTable.builder(rows.length);
    for (const r of rows) builder.add(r);
    const table = builder.finish();
    assert.equal(table.size, 500);
    for (let i = 0; i < rows.length; i++) assert.deepEqual(table.row(i), rows[i]);
    for (const filter of FILTERS.filter((f): f is SearchFilter => f !== undefined)) {
      const { rows: admitted, count } = table.admitted(filter);
      const want = rows.map((r) => (matchesFilter(r, filter) ? 1 : 0));
      assert.deepEqual([...admitted], want, JSON.stringify(filter));
      assert.equal(count, want.filter((x) => x === 1).length);
    }
    assert.equal(table.admitted({ status: ['nonexistent'] }).count, 0, 'a value never seen admits nothing');
    assert.throws(() => builder.add(attributes(501)), /more than the 500 rows/);
  });
});
