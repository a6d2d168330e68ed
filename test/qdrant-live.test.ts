/**
 * Round trip against a real Qdrant server: sync, incremental sync, --check finding a deleted
 * point, search, and --force. Runs only when QDRANT_URL (and optionally QDRANT_API_KEY) is set;
 * it works in its own collection prefix and drops its collection at the end.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { pointId } from '../src/index/point-id.js';
import { nfrJson, testEnv, type Env } from './support/cli.js';
import { TestCluster } from './support/cluster.js';
import { changeControlText, closeControls, seedControls, syntheticControls } from './support/index-fixtures.js';

const QDRANT_URL = process.env.QDRANT_URL;
const skip = QDRANT_URL ? false : 'QDRANT_URL is not set: no live Qdrant to test against (request shapes are checked in qdrant-api.test.ts)';
const prefix = `nfrtest_${process.pid}_${Date.now()}`;

describe('Qdrant backend against a live server', { skip }, () => {
  let cluster: TestCluster;
  let env: Env;
  let url: string;
  const client = () => new QdrantClient({ url: QDRANT_URL!, apiKey: process.env.QDRANT_API_KEY, checkCompatibility: false });

  before(async () => {
    cluster = await TestCluster.start();
    const db = await cluster.createDatabase('live');
    url = db.url;
    await seedControls(url, syntheticControls(40));
    env = testEnv({ DATABASE_URL: url, NFR_HOME: cluster.tempDir('live-home'), QDRANT_URL, QDRANT_API_KEY: process.env.QDRANT_API_KEY, QDRANT_COLLECTION_PREFIX: prefix });
  });

  after(async () => {
    if (QDRANT_URL) await client().deleteCollection(`${prefix}_controls`).catch(() => {});
    await cluster?.stop();
  });

  it('syncs, syncs incrementally, checks by id and hash, searches and rebuilds', async () => {
    const first = await nfrJson(['index'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual([first.body.backend, first.body.points, first.body.upserted], ['qdrant', 40, 40]);
    const info = await client().getCollection(`${prefix}_controls`);
    assert.equal(info.points_count, 40);

    await changeControlText(url, 'CTL-001', 'Control 1 rewritten', 'new words');
    await closeControls(url, ['CTL-002']);
    const second = await nfrJson(['index'], env);
    assert.deepEqual([second.body.upserted, second.body.deleted, second.body.points], [1, 1, 39]);

    await client().delete(`${prefix}_controls`, { wait: true, points: [pointId('CTL-003')] });
    const check = await nfrJson(['index', '--check'], env);
    assert.equal(check.code, 6);
    assert.deepEqual(check.body.missing, { count: 1, ids: ['CTL-003'] });

    const search = await nfrJson(['search', 'password rotation', '--limit', '3'], env);
    assert.equal(search.code, 0, search.stderr);
    assert.equal(search.body.results.length, 3);
    assert.match(search.body.results[0].title, /password rotation/);

    const rebuilt = await nfrJson(['index', '--force'], env);
    assert.deepEqual([rebuilt.body.upserted, rebuilt.body.points], [39, 39]);
    assert.equal((await nfrJson(['index', '--check'], env)).body.ok, true);
  });
});
