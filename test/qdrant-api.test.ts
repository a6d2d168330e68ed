/**
 * Request-shape check of the Qdrant backend against Qdrant's published REST API (the OpenAPI
 * document of Qdrant 1.19 in test/fixtures). This is NOT a test against Qdrant: the backend talks
 * to a local node:http recording server that keeps just enough state to answer like the API
 * describes (collection exists/info, points for scroll and query). Every request the backend
 * sends is checked for method, path template, query parameters and JSON body against the
 * document, and every answer the server gives is checked against the response schema, so the
 * backend is only relying on shapes the API promises. A live round trip runs in qdrant-live.test.ts.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { NfrError } from '../src/errors.js';
import { pointId } from '../src/index/point-id.js';
import { QdrantIndex } from '../src/index/qdrant.js';
import { payloadHash, type IndexPoint } from '../src/index/types.js';
import { nfrJson, testEnv } from './support/cli.js';
import { TestCluster } from './support/cluster.js';
import { closeControls, seedControls, syntheticControls } from './support/index-fixtures.js';
import { OpenApi, type Operation } from './support/openapi.js';

const api = new OpenApi(JSON.parse(readFileSync(new URL('../../test/fixtures/qdrant-openapi-1.19.json', import.meta.url), 'utf8')));

interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: unknown;
  readonly operationId: string | undefined;
  readonly problems: string[];
}

interface StoredPoint {
  id: string;
  vector: number[];
  payload: Record<string, unknown>;
}

/** Answers like the API document says, from a tiny in-memory state; records and checks everything. */
class RecordingServer {
  readonly requests: Recorded[] = [];
  readonly responseProblems: string[] = [];
  collection: { size: number; distance: string; metadata: Record<string, unknown> | null; points: Map<string, StoredPoint> } | undefined;
  /** Page size the fake scroll honours (the backend asks for 1000; tests lower it to see paging). */
  scrollPageCap = Infinity;
  failNext: { status: number; error: string } | undefined;

  /** Forgets the collection, as if the server were new. */
  reset(): void {
    this.collection = undefined;
  }
  #server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => void this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise((resolve) => this.#server?.close(resolve));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    const problems: string[] = [];
    if (text) {
      try {
        body = JSON.parse(text);
      } catch {
        problems.push(`${req.method} ${req.url}: body is not JSON`);
      }
      if (!String(req.headers['content-type']).includes('application/json')) problems.push(`${req.method} ${req.url}: content-type ${req.headers['content-type']}`);
    }
    const check = api.checkRequest(req.method ?? 'GET', req.url ?? '/', body);
    problems.push(...check.problems);
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, operationId: check.operation?.operationId, problems });
    const [status, result] = check.operation ? this.#answer(check.operation, new URL(req.url ?? '/', this.url), body) : [404, null];
    const envelope = status === 200 ? { time: 0.001, status: 'ok', result } : { time: 0.001, status: { error: String(result) } };
    if (check.operation) this.responseProblems.push(...api.checkResponse(check.operation, status, envelope));
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(envelope));
  }

  #answer(op: Operation, url: URL, body: unknown): [number, unknown] {
    if (this.failNext) {
      const f = this.failNext;
      this.failNext = undefined;
      return [f.status, f.error];
    }
    const name = decodeURIComponent(url.pathname.split('/')[2] ?? '');
    const b = (body ?? {}) as Record<string, any>;
    const col = this.collection;
    const missing: [number, unknown] = [404, `Not found: Collection \`${name}\` doesn't exist!`];
    switch (op.operationId) {
      case 'collection_exists':
        return [200, { exists: col !== undefined }];
      case 'create_collection':
        if (col) return [409, `Wrong input: Collection \`${name}\` already exists!`];
        this.collection = { size: b.vectors.size, distance: b.vectors.distance, metadata: b.metadata ?? null, points: new Map() };
        return [200, true];
      case 'delete_collection':
        this.collection = undefined;
        return [200, col !== undefined];
      case 'update_collection':
        if (!col) return missing;
        col.metadata = { ...(col.metadata ?? {}), ...(b.metadata ?? {}) };
        return [200, true];
      case 'get_collection':
        if (!col) return missing;
        return [200, {
          status: 'green',
          optimizer_status: 'ok',
          segments_count: 1,
          points_count: col.points.size,
          indexed_vectors_count: 0,
          payload_schema: {},
          config: {
            params: { vectors: { size: col.size, distance: col.distance }, shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: true },
            hnsw_config: { m: 16, ef_construct: 100, full_scan_threshold: 10000 },
            optimizer_config: { default_segment_number: 0, flush_interval_sec: 5, deleted_threshold: 0.2, vacuum_min_vector_number: 1000, max_optimization_threads: null },
            wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
            quantization_config: null,
            metadata: col.metadata,
          },
        }];
      case 'upsert_points':
        if (!col) return missing;
        for (const p of b.points as StoredPoint[]) col.points.set(String(p.id), { id: String(p.id), vector: p.vector, payload: p.payload });
        return [200, { operation_id: 1, status: 'completed' }];
      case 'delete_points':
        if (!col) return missing;
        for (const id of b.points as string[]) col.points.delete(String(id));
        return [200, { operation_id: 2, status: 'completed' }];
      case 'count_points':
        return col ? [200, { count: col.points.size }] : missing;
      case 'scroll_points': {
        if (!col) return missing;
        const all = [...col.points.values()].sort((x, y) => x.id.localeCompare(y.id));
        const start = b.offset ? all.findIndex((p) => p.id === b.offset) : 0;
        const size = Math.min(b.limit ?? 10, this.scrollPageCap);
        const page = all.slice(start, start + size);
        const fields = Array.isArray(b.with_payload) ? (b.with_payload as string[]) : undefined;
        return [200, {
          points: page.map((p) => ({ id: p.id, payload: fields ? Object.fromEntries(fields.filter((f) => f in p.payload).map((f) => [f, p.payload[f]])) : p.payload })),
          next_page_offset: all[start + size]?.id ?? null,
        }];
      }
      case 'query_points': {
        if (!col) return missing;
        const q = b.query as number[];
        const scored = [...col.points.values()].map((p) => ({ p, score: p.vector.reduce((s, v, i) => s + v * (q[i] ?? 0), 0) })).sort((x, y) => y.score - x.score);
        return [200, { points: scored.slice(0, b.limit ?? 10).map(({ p, score }) => ({ id: p.id, version: 1, score, payload: p.payload })) }];
      }
      default:
        return [400, `the recording server does not answer ${op.operationId}`];
    }
  }
}

function point(controlId: string, vector: number[], text = 'h1'): IndexPoint {
  const base = { control_id: controlId, title: `Title of ${controlId}`, status: 'active', owning_function_id: 'F-1', risk_theme_ids: ['RT-1'], model: 'test-model' };
  return { vector: Float32Array.from(vector), payload: { ...base, text_hash: text, payload_hash: payloadHash(base) } };
}

const MODEL = { model: 'test-model', dimension: 4, distance: 'Cosine' as const };
let server: RecordingServer;

before(async () => {
  server = new RecordingServer();
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
    assert.deepEqual(server.collection?.metadata, { nfr_model: 'test-model', nfr_dimension: 4, nfr_distance: 'Cosine', nfr_source_signature: 'sig-1' });
    assert.ok(server.collection?.points.has(pointId('AC-1')), 'point id is the UUIDv5 of the control id');

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
    assert.equal(server.collection?.size, 3);

    const problems = server.requests.flatMap((r) => r.problems);
    assert.deepEqual(problems, [], problems.join('\n'));
    assert.deepEqual(server.responseProblems, [], server.responseProblems.join('\n'));
    const ops = new Set(server.requests.map((r) => r.operationId));
    for (const op of ['collection_exists', 'get_collection', 'create_collection', 'update_collection', 'delete_collection', 'upsert_points', 'delete_points', 'scroll_points', 'count_points', 'query_points']) {
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

    const closed = new RecordingServer();
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
      assert.equal(server.collection?.points.size, 12);
      assert.equal(server.collection?.metadata?.nfr_model, 'nfr-local-hash-v1');

      await closeControls(db.url, ['CTL-004']);
      const second = await nfrJson(['index'], env);
      assert.deepEqual([second.body.upserted, second.body.deleted, second.body.unchanged, second.body.points], [0, 1, 11, 11]);

      server.collection?.points.delete(pointId('CTL-005'));
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
