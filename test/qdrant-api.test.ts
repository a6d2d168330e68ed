/**
 * Request-shape check of the Qdrant backend against Qdrant's published REST API (the OpenAPI
 * document of Qdrant 1.19 in test/fixtures). This is NOT a test against Qdrant: the backend talks
 * to a local node:http recording server (test/support/qdrant-recording.ts) that keeps just
 * enough state to answer like the API describes — collections and points, aliases, collection
 * snapshots (create, list, download, delete, multipart upload). Every request the backend sends
 * is checked for method, path template, query parameters and JSON or multipart body against the
 * document, and every answer the server gives against the response schema, so the backend only
 * relies on shapes the API promises. What Qdrant actually does with them is tested only by the
 * live round trips in qdrant-live.test.ts (when QDRANT_URL is set).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { NfrError } from '../src/errors.js';
import { pointId } from '../src/index/point-id.js';
import { QdrantIndex } from '../src/index/qdrant.js';
import { payloadHash, type IndexPoint } from '../src/index/types.js';
import { nfrJson, testEnv } from './support/cli.js';
import { TestCluster } from './support/cluster.js';
import { closeControls, seedControls, syntheticControls } from './support/index-fixtures.js';
import { OpenApi } from './support/openapi.js';
import { RecordingServer } from './support/qdrant-recording.js';

const api = new OpenApi(JSON.parse(readFileSync(new URL('../../test/fixtures/qdrant-openapi-1.19.json', import.meta.url), 'utf8')));

function point(controlId: string, vector: number[], text = 'h1'): IndexPoint {
  const base = { control_id: controlId, title: `Title of ${controlId}`, status: 'active', owning_function_id: 'F-1', risk_theme_ids: ['RT-1'], model: 'test-model' };
  return { vector: Float32Array.from(vector), payload: { ...base, text_hash: text, payload_hash: payloadHash(base) } };
}

const MODEL = { model: 'test-model', dimension: 4, distance: 'Cosine' as const };
let server: RecordingServer;

before(async () => {
  server = new RecordingServer(api);
  await server.start();
});

after(async () => {
  await server?.stop();
});

describe('Qdrant backend: request shapes against the published Qdrant 1.19 OpenAPI document (no Qdrant involved)', () => {
  it('the checker itself rejects malformed requests', () => {
    assert.deepEqual(api.checkRequest('PUT', '/collections/c/points?wait=true', { points: [{ id: pointId('A'), vector: [0.1, 0.2] }] }).problems, []);
    assert.notDeepEqual(api.checkRequest('PUT', '/collections/c/points?wait=true', { points: [{ id: 'not-a-uuid', vector: [0.1] }] }).problems, []);
    assert.notDeepEqual(api.checkRequest('PUT', '/collections/c/points?wait=true', { points: [{ vector: [0.1] }] }).problems, [], 'id is required');
    assert.notDeepEqual(api.checkRequest('PUT', '/collections/c/points?wat=true', { points: [] }).problems, [], 'undeclared query parameter');
    assert.notDeepEqual(api.checkRequest('PUT', '/collections/c', { vectors: { size: 4, distance: 'Cosinus' } }).problems, [], 'enum');
    assert.notDeepEqual(api.checkRequest('POST', '/collections/c/points/scroll', { limit: -1 }).problems, [], 'uint');
    assert.notDeepEqual(api.checkRequest('POST', '/collections/c/points/search_typo', {}).problems, []);
  });

  it('sync, check and search send only requests the API defines, and rely only on documented answers', async () => {
    const index = new QdrantIndex({ url: server.url, apiKey: 'secret-key-123', collectionPrefix: 'nfrtest' });
    assert.equal(await index.describe(), undefined, 'missing collection');

    const writer = await index.begin(MODEL, { reset: false });
    await writer.upsert([point('AC-1', [1, 0, 0, 0]), point('AC-2', [0, 1, 0, 0]), point('AC-3', [0.9, 0.1, 0, 0])]);
    await writer.delete(['AC-2']);
    assert.equal(await writer.commit('sig-1'), 2);

    const d = await index.describe();
    assert.deepEqual(d, { model: 'test-model', dimension: 4, distance: 'Cosine', points: 2, source_signature: 'sig-1' });
    const physical = server.aliases.get('nfrtest_controls');
    assert.match(physical ?? '', /^nfrtest_controls_nfr_\d{8}t\d{6}z_[0-9a-f]{6}$/, 'the name requests use is an alias of a physical collection');
    assert.deepEqual(server.resolve('nfrtest_controls')?.metadata, { nfr_model: 'test-model', nfr_dimension: 4, nfr_distance: 'Cosine', nfr_source_signature: 'sig-1' });
    assert.ok(server.resolve('nfrtest_controls')?.points.has(pointId('AC-1')), 'point id is the UUIDv5 of the control id');

    server.scrollPageCap = 1; // two pages: the backend must follow next_page_offset
    const entries = [];
    for await (const batch of index.entries()) entries.push(...batch);
    server.scrollPageCap = Infinity;
    assert.deepEqual(entries.map((e) => e.control_id).sort(), ['AC-1', 'AC-3']);
    assert.equal(entries[0]?.text_hash, 'h1');

    const hits = await index.search(Float32Array.from([1, 0, 0, 0]), 5);
    assert.deepEqual(hits.map((h) => h.control_id), ['AC-1', 'AC-3']);
    assert.equal(hits[0]?.title, 'Title of AC-1');

    // A mismatching model is refused before any write; --force recreates the collection.
    await assert.rejects(index.begin({ ...MODEL, model: 'other' }, { reset: false }), (e: NfrError) => e.code === 'SCHEMA_MISMATCH' && /nfr index --force/.test(e.message));
    const rebuilt = await index.begin({ ...MODEL, dimension: 3 }, { reset: true });
    assert.equal(await rebuilt.commit('sig-2'), 0);
    assert.equal(server.resolve('nfrtest_controls')?.size, 3);
    assert.notEqual(server.aliases.get('nfrtest_controls'), physical, 'the alias moved to a new collection');
    assert.deepEqual([...server.collections.keys()], [server.aliases.get('nfrtest_controls')], 'the replaced collection is deleted');

    const problems = server.requests.flatMap((r) => r.problems);
    assert.deepEqual(problems, [], problems.join('\n'));
    assert.deepEqual(server.responseProblems, [], server.responseProblems.join('\n'));
    const ops = new Set(server.requests.map((r) => r.operationId));
    for (const op of ['collection_exists', 'get_collection', 'create_collection', 'update_collection', 'delete_collection', 'upsert_points', 'delete_points', 'scroll_points', 'count_points', 'query_points', 'get_collections_aliases', 'update_aliases']) {
      assert.ok(ops.has(op), `${op} was exercised`);
    }
    assert.ok(server.requests.every((r) => r.headers['api-key'] === 'secret-key-123'), 'API key sent as the api-key header');
    assert.ok(server.requests.filter((r) => r.operationId === 'upsert_points').every((r) => r.url.includes('wait=true')), 'upserts wait');
  });

  it('turns error answers and an unreachable server into errors naming the URL, never the key', async () => {
    const index = new QdrantIndex({ url: server.url, apiKey: 'secret-key-123', collectionPrefix: 'nfrerr' });
    server.failNext = { status: 500, error: 'Service internal error: disk full' };
    await assert.rejects(index.describe(), (e: NfrError) => e.code === 'TOOL_FAILED' && e.message.includes(server.url) && /disk full/.test(e.message) && !e.message.includes('secret-key-123'));
    server.failNext = { status: 403, error: 'Forbidden' };
    await assert.rejects(index.describe(), (e: NfrError) => /QDRANT_API_KEY/.test(e.message) && !e.message.includes('secret-key-123'));

    const closed = new RecordingServer(api);
    await closed.start();
    const deadUrl = closed.url;
    await closed.stop();
    const dead = new QdrantIndex({ url: deadUrl, apiKey: 'secret-key-123', collectionPrefix: 'nfr' });
    await assert.rejects(dead.describe(), (e: NfrError) => e.code === 'DATABASE' && e.message.includes(deadUrl) && !e.message.includes('secret-key-123'));
    assert.deepEqual(server.responseProblems, [], server.responseProblems.join('\n'));
  });

  it('nfr index, index --check and search through the CLI send only documented requests', async () => {
    const cluster = await TestCluster.start();
    try {
      const db = await cluster.createDatabase('qdrant_cli');
      await seedControls(db.url, syntheticControls(12));
      const env = testEnv({ DATABASE_URL: db.url, NFR_HOME: cluster.tempDir('home'), QDRANT_URL: server.url, QDRANT_COLLECTION_PREFIX: 'clitest' });
      server.reset();
      const before = server.requests.length;

      const first = await nfrJson(['index'], env);
      assert.equal(first.code, 0, first.stderr);
      assert.deepEqual([first.body.backend, first.body.location, first.body.points, first.body.upserted], ['qdrant', `${server.url} collection clitest_controls`, 12, 12]);
      assert.equal(server.resolve('clitest_controls')?.points.size, 12);
      assert.equal(server.resolve('clitest_controls')?.metadata?.nfr_model, 'nfr-local-hash-v1');

      await closeControls(db.url, ['CTL-004']);
      const second = await nfrJson(['index'], env);
      assert.deepEqual([second.body.upserted, second.body.deleted, second.body.unchanged, second.body.points], [0, 1, 11, 11]);

      server.resolve('clitest_controls')?.points.delete(pointId('CTL-005'));
      const check = await nfrJson(['index', '--check'], env);
      assert.equal(check.code, 6);
      assert.deepEqual(check.body.missing, { count: 1, ids: ['CTL-005'] });

      const search = await nfrJson(['search', 'password rotation', '--limit', '3'], env);
      assert.equal(search.code, 0, search.stderr);
      assert.equal(search.body.results.length, 3);
      assert.deepEqual(search.body.warnings, []);

      const sent = server.requests.slice(before);
      assert.ok(sent.length >= 8);
      const problems = sent.flatMap((r) => r.problems);
      assert.deepEqual(problems, [], problems.join('\n'));
      assert.deepEqual(server.responseProblems, [], server.responseProblems.join('\n'));
    } finally {
      await cluster.stop();
    }
  });
});
