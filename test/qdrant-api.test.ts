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
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NfrError } from '../src/errors.js';
import { pointId } from '../src/index/point-id.js';
import { QdrantIndex } from '../src/index/qdrant.js';
import { payloadHash, type IndexPoint } from '../src/index/types.js';
import { nfr, nfrJson, spawnNfr, testEnv, waitForExit, waitForStderr } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint } from './support/data.js';
import { changeControlText, closeControls, seedControls, syntheticControls } from './support/index-fixtures.js';
import { OpenApi } from './support/openapi.js';
import { RecordingServer } from './support/qdrant-recording.js';

const api = new OpenApi(JSON.parse(readFileSync(new URL('../../test/fixtures/qdrant-openapi-1.19.json', import.meta.url), 'utf8')));

function point(controlId: string, vector: number[], text = 'h1'): IndexPoint {
  const base = { control_id: controlId, title: `Title of ${controlId}`, status: 'active', owning_function_id: 'F-1', risk_theme_ids: ['RT-1'], owning_location_id: 'L-1', family_id: 'AC', key_control: true, model: 'test-model' };
  return { vector: Float32Array.from(vector), payload: { ...base, text_hash: text, payload_hash: payloadHash(base) } };
}

const MODEL = { model: 'test-model', dimension: 4, distance: 'Cosine' as const };
const cluster = fileCluster();
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
    assert.deepEqual([hits[0]?.family_id, hits[0]?.owning_location_id, hits[0]?.key_control], ['AC', 'L-1', true], 'filterable payload fields come back');

    // Search filters become a payload filter the API defines (checked with every request below).
    await index.search(Float32Array.from([1, 0, 0, 0]), 5, { status: ['active'], family_id: ['AC', 'IA'], risk_theme_id: ['RT-1'], key_control: true });
    const filtered = server.requests.filter((r) => r.operationId === 'query_points').at(-1)?.body as { filter?: unknown };
    assert.deepEqual(filtered.filter, {
      must: [
        { key: 'status', match: { any: ['active'] } },
        { key: 'family_id', match: { any: ['AC', 'IA'] } },
        { key: 'risk_theme_ids', match: { any: ['RT-1'] } },
        { key: 'key_control', match: { value: true } },
      ],
    });

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
    const db = await cluster.createDatabase('qdrant_cli');
    await seedControls(db.url, syntheticControls(12));
    const env = testEnv({ DATABASE_URL: db.url, NFR_HOME: cluster.tempDir('qdrant_cli-home'), QDRANT_URL: server.url, QDRANT_COLLECTION_PREFIX: 'clitest' });
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
  });
});

/** Every point of the collection an alias (or name) resolves to: id → vector and payload, copied. */
function points(name: string): Record<string, { vector: number[]; payload: Record<string, unknown> }> {
  const col = server.resolve(name);
  assert.ok(col, `${name} resolves to a collection`);
  return Object.fromEntries([...col.points].map(([id, p]) => [id, structuredClone({ vector: p.vector, payload: p.payload })]));
}

/** Turns an aliased index into what a deployment from before aliases has: a collection under the name itself. */
function makeLegacy(name: string): void {
  const target = server.aliases.get(name);
  assert.ok(target);
  server.collections.set(name, server.collections.get(target)!);
  server.collections.delete(target);
  server.aliases.delete(name);
}

function assertOnlyDocumentedRequests(since: number): void {
  const problems = server.requests.slice(since).flatMap((r) => r.problems);
  assert.deepEqual(problems, [], problems.join('\n'));
  assert.deepEqual(server.responseProblems, [], server.responseProblems.join('\n'));
}

describe('Qdrant full snapshots through the CLI, request shapes against the Qdrant 1.19 API document (the recording server is not Qdrant)', () => {
  async function setup(prefix: string) {
    const db = await cluster.createDatabase(prefix);
    await seedControls(db.url, syntheticControls(20));
    const backups = cluster.tempDir(`${prefix}-backups`);
    const env = testEnv({
      DATABASE_URL: db.url,
      NFR_HOME: cluster.tempDir(`${prefix}-home`),
      POSTGRES_BACKUP_PATH: backups,
      QDRANT_URL: server.url,
      QDRANT_API_KEY: 'secret-key-456',
      QDRANT_COLLECTION_PREFIX: prefix,
    });
    const journal = path.join(backups, '.state', 'qdrant-restore.json');
    return { db, env, alias: `${prefix}_controls`, prev: `${prefix}_controls_nfr_prev`, journal };
  }

  /** The database, the live points with their vectors, and where the alias points. */
  async function live(url: string, alias: string) {
    return { db: await fingerprint(url), points: points(alias), target: server.aliases.get(alias) ?? alias };
  }

  async function stagingDatabases(): Promise<string[]> {
    return (await cluster.databases()).filter((d) => d.includes('__nfr_staging'));
  }

  it('create → change → failed restores change nothing → killed restore cleaned up → restore → undo → restore again', async () => {
    server.reset();
    const since = server.requests.length;
    const { db, env, alias, prev, journal } = await setup('full');
    assert.equal((await nfrJson(['index'], env)).code, 0);
    const original = await live(db.url, alias);
    assert.equal(Object.keys(original.points).length, 20);

    const full = await nfrJson(['snapshot', 'create', '--name', 'golden', '--full'], env);
    assert.equal(full.code, 0, full.stderr);
    assert.deepEqual(full.body.index, { backend: 'qdrant', model: 'nfr-local-hash-v1', dimension: full.body.index.dimension, distance: 'Cosine', points: 20, collection: original.target, file: 'index/qdrant-collection.snapshot' });
    assert.deepEqual(full.body.contains, { postgres: true, vector_index: true, ingested_files: true });
    const file = full.body.files.find((f: { path: string }) => f.path === 'index/qdrant-collection.snapshot');
    assert.match(file.sha256, /^[0-9a-f]{64}$/, 'the collection snapshot is checksummed in the manifest');
    assert.deepEqual(server.allSnapshotFiles(), [], 'the server-side snapshot was deleted after the download');
    const created = server.requests.slice(since).filter((r) => r.operationId === 'create_snapshot');
    assert.equal(created.length, 1);
    assert.ok(created[0]!.url.includes('wait=true'));
    assert.equal((await nfrJson(['snapshot', 'verify', '--id', full.body.id], env)).code, 0);

    // A bad load: one control rewritten, one closed, the index synced to it.
    await changeControlText(db.url, 'CTL-001', 'Control 1 rewritten', 'new words entirely');
    await closeControls(db.url, ['CTL-002']);
    assert.equal((await nfrJson(['index'], env)).code, 0);
    const changed = await live(db.url, alias);
    assert.notDeepEqual(changed.points, original.points);
    assert.equal(changed.target, original.target, 'incremental syncs write into the live collection');

    const nothingChanged = async (why: string) => {
      assert.deepEqual(await fingerprint(db.url), changed.db, `${why}: live database untouched`);
      assert.deepEqual(points(alias), changed.points, `${why}: live points untouched`);
      assert.deepEqual([...server.collections.keys()], [changed.target], `${why}: no staging collection left`);
      assert.deepEqual([...server.aliases], [[alias, changed.target]], `${why}: aliases untouched`);
      assert.deepEqual(server.allSnapshotFiles(), [], `${why}: no snapshot left on the server`);
      assert.deepEqual(await stagingDatabases(), [], `${why}: no staging database left`);
      assert.equal(existsSync(journal), false, `${why}: journal removed`);
    };

    // The server fails the upload: the restore stops before the swap, and cleans up.
    server.failNext = { status: 500, error: 'Service internal error: No space left on device', operationId: 'recover_from_uploaded_snapshot' };
    const failed = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], env);
    assert.equal(failed.code, 7, failed.stderr);
    assert.match(failed.body.error.message, /^staging the vector index and ingested files of SNAP-\d{4}-\d{4,} failed, so nothing live was changed: Qdrant at http:\/\/127\.0\.0\.1:\d+ refused to recover collection full_controls_nfr_\w+ from an uploaded snapshot: HTTP 500 Service internal error: No space left on device$/);
    await nothingChanged('upload failed');

    // The upload arrives damaged: Qdrant's checksum check refuses it.
    server.corruptNextUpload = true;
    const damaged = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], env);
    assert.equal(damaged.code, 7, damaged.stderr);
    assert.match(damaged.body.error.message, /Checksum mismatch: expected [0-9a-f]{64}/);
    await nothingChanged('checksum mismatch');

    // Killed once the collection is staged: recovery (`snapshot recover`) deletes it.
    const killed = spawnNfr(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'files-staged' });
    let staged: string[];
    try {
      await waitForStderr(killed, /nfr-fault-point: files-staged/);
      staged = [...server.collections.keys()].filter((c) => c !== changed.target);
      assert.equal(staged.length, 1, 'one staging collection while the restore runs');
      assert.deepEqual(points(staged[0]!), original.points, 'the staging collection holds the snapshot');
      assert.deepEqual(server.allSnapshotFiles(), [], 'the copy Qdrant keeps of an upload is deleted at once');
    } finally {
      killed.kill('SIGKILL');
      await waitForExit(killed);
    }
    // Status only shows it; recovery says what it repaired (--json: dropped_collections).
    const pending = await nfr(['snapshot', 'status'], env);
    assert.match(pending.stdout, /leftovers .*qdrant-restore\.json/);
    const status = await nfr(['snapshot', 'recover'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, new RegExp(`recovered: .*deleted Qdrant collection ${staged[0]}`));
    await nothingChanged('killed before the swap');

    // The restore (with its pre-restore backup, itself a full snapshot of the changed state).
    const restored = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await fingerprint(db.url), original.db);
    assert.deepEqual(points(alias), original.points, 'points and vectors back as they were');
    const restoredTarget = server.aliases.get(alias)!;
    assert.notEqual(restoredTarget, changed.target);
    assert.equal(server.aliases.get(prev), changed.target, 'the replaced collection is kept for undo');
    assert.deepEqual([...server.collections.keys()].sort(), [changed.target, restoredTarget].sort());
    assert.deepEqual(server.allSnapshotFiles(), []);
    assert.equal(existsSync(journal), false);
    assert.equal(restored.body.after_restore.index.status, 'in-sync');
    assert.equal((await nfrJson(['index', '--check'], env)).code, 0);
    const backup = await nfrJson(['snapshot', 'show', '--id', restored.body.pre_restore_backup_id], env);
    assert.equal(backup.body.index.backend, 'qdrant');
    assert.equal(backup.body.index.points, 19);

    // Undo exchanges the aliases (one request) and the databases.
    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(undo.code, 0, undo.stderr);
    assert.deepEqual(await fingerprint(db.url), changed.db);
    assert.deepEqual(points(alias), changed.points);
    assert.deepEqual([server.aliases.get(alias), server.aliases.get(prev)], [changed.target, restoredTarget]);

    // Restoring again replaces the live collection and deletes the one the previous alias held.
    const again = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(points(alias), original.points);
    assert.equal(server.aliases.get(prev), changed.target);
    assert.deepEqual([...server.collections.keys()].sort(), [changed.target, server.aliases.get(alias)!].sort(), `${restoredTarget} is deleted`);
    assert.deepEqual(server.allSnapshotFiles(), []);

    // The switch is ONE alias request holding delete_alias + create_alias.
    const switches = server.requests.slice(since).filter((r) => r.operationId === 'update_aliases');
    assert.ok(switches.some((r) => JSON.stringify(r.body) === JSON.stringify({ actions: [
      { delete_alias: { alias_name: alias } }, { create_alias: { collection_name: server.aliases.get(alias), alias_name: alias } },
      { delete_alias: { alias_name: prev } }, { create_alias: { collection_name: changed.target, alias_name: prev } },
    ] })));
    const uploads = server.requests.slice(since).filter((r) => r.operationId === 'recover_from_uploaded_snapshot');
    assert.ok(uploads.length >= 4);
    for (const u of uploads) {
      const q = new URL(u.url, server.url).searchParams;
      assert.deepEqual([q.get('wait'), q.get('priority'), q.get('checksum')], ['true', 'snapshot', file.sha256]);
      assert.deepEqual(u.body, [{ name: 'snapshot', filename: `${new URL(u.url, server.url).pathname.split('/')[2]}.snapshot`, size: file.size }]);
    }
    assert.ok(server.requests.slice(since).every((r) => r.headers['api-key'] === 'secret-key-456'), 'API key on every request, downloads and uploads included');
    const ops = new Set(server.requests.slice(since).map((r) => r.operationId));
    for (const op of ['create_snapshot', 'get_snapshot', 'delete_snapshot', 'list_snapshots', 'recover_from_uploaded_snapshot', 'update_aliases', 'get_collections_aliases']) assert.ok(ops.has(op), `${op} was exercised`);
    assertOnlyDocumentedRequests(since);

    // A Qdrant snapshot needs the Qdrant configuration to be restored.
    const embedded = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], { ...env, QDRANT_URL: undefined });
    assert.equal(embedded.code, 5);
    assert.match(embedded.body.error.message, /the snapshot's vector index is a Qdrant collection but this configuration uses the embedded index/);
  });

  it('a restore killed after its database swap has its alias switch completed by the next command', async () => {
    server.reset();
    const since = server.requests.length;
    const { db, env, alias, prev } = await setup('rollfwd');
    assert.equal((await nfrJson(['index'], env)).code, 0);
    const original = await live(db.url, alias);
    const full = await nfrJson(['snapshot', 'create', '--name', 'golden', '--full'], env);
    assert.equal(full.code, 0, full.stderr);
    await changeControlText(db.url, 'CTL-003', 'Control 3 rewritten', null);
    assert.equal((await nfrJson(['index'], env)).code, 0);
    const changed = await live(db.url, alias);

    const killed = spawnNfr(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], { ...env, NFR_FAULT_POINT: 'index-switch' });
    try {
      await waitForStderr(killed, /nfr-fault-point: index-switch/);
    } finally {
      killed.kill('SIGKILL');
      await waitForExit(killed);
    }
    assert.deepEqual(await fingerprint(db.url), original.db, 'the database swap had happened');
    assert.deepEqual(points(alias), changed.points, 'the alias had not moved yet');

    const status = await nfrJson(['snapshot', 'recover'], env);
    assert.equal(status.body.completed_index_switch, true);
    assert.deepEqual(points(alias), original.points, 'the index follows the database');
    assert.equal(server.aliases.get(prev), changed.target);
    assert.equal(server.collections.size, 2);
    assert.deepEqual(server.allSnapshotFiles(), []);
    assert.equal((await nfrJson(['index', '--check'], env)).code, 0);
    assertOnlyDocumentedRequests(since);
  });

  it('a deployment from before aliases (a real <prefix>_controls collection) keeps working, is snapshotted, restored and undone', async () => {
    server.reset();
    const since = server.requests.length;
    const { db, env, alias, prev } = await setup('legacy');
    assert.equal((await nfrJson(['index'], env)).code, 0);
    makeLegacy(alias);
    const original = await live(db.url, alias);
    assert.equal(original.target, alias);

    // Syncs, checks and searches work on it as they are: no alias appears.
    await changeControlText(db.url, 'CTL-004', 'Control 4 rewritten', 'other words');
    const synced = await nfrJson(['index'], env);
    assert.deepEqual([synced.code, synced.body.upserted], [0, 1]);
    assert.equal((await nfrJson(['index', '--check'], env)).code, 0);
    assert.equal((await nfrJson(['search', 'firewall rules review', '--limit', '2'], env)).body.results.length, 2);
    assert.equal(server.aliases.size, 0);
    const before = await live(db.url, alias);

    const full = await nfrJson(['snapshot', 'create', '--name', 'legacy', '--full'], env);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(full.body.index.collection, alias, 'the snapshot is taken of the collection itself');
    assert.deepEqual(server.allSnapshotFiles(), []);

    await closeControls(db.url, ['CTL-005', 'CTL-006']);
    assert.equal((await nfrJson(['index'], env)).code, 0);
    const changed = await live(db.url, alias);

    // A failure while copying the old collection (the second step of staging) leaves it as it was.
    server.failNext = { status: 503, error: 'Service unavailable', operationId: 'create_snapshot' };
    const failed = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], env);
    assert.equal(failed.code, 7, failed.stderr);
    assert.match(failed.body.error.message, /nothing live was changed: Qdrant at .* refused to create a snapshot of collection legacy_controls: HTTP 503/);
    assert.deepEqual(await fingerprint(db.url), changed.db);
    assert.deepEqual([...server.collections.keys()], [alias], 'the staging collection is deleted, the old one untouched');
    assert.deepEqual(points(alias), changed.points);
    assert.equal(server.aliases.size, 0);
    assert.deepEqual(server.allSnapshotFiles(), []);

    const restored = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await fingerprint(db.url), before.db);
    assert.deepEqual(points(alias), before.points);
    const target = server.aliases.get(alias);
    assert.ok(target, 'the name is now an alias');
    assert.equal(server.collections.has(alias), false, 'the old collection is replaced by the alias');
    const copy = server.aliases.get(prev)!;
    assert.deepEqual(points(copy), changed.points, 'the old collection lives on, copied, for undo');
    assert.deepEqual([...server.collections.keys()].sort(), [copy, target].sort());
    assert.deepEqual(server.allSnapshotFiles(), []);

    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], env);
    assert.equal(undo.code, 0, undo.stderr);
    assert.deepEqual(await fingerprint(db.url), changed.db);
    assert.deepEqual(points(alias), changed.points);
    assert.equal((await nfrJson(['index', '--check'], env)).code, 0);
    assertOnlyDocumentedRequests(since);
  });

  it('nfr index --force turns a collection from before aliases into an aliased one', async () => {
    server.reset();
    const since = server.requests.length;
    const { env, alias } = await setup('legforce');
    assert.equal((await nfrJson(['index'], env)).code, 0);
    makeLegacy(alias);
    const rebuilt = await nfrJson(['index', '--force'], env);
    assert.deepEqual([rebuilt.code, rebuilt.body.upserted, rebuilt.body.points], [0, 20, 20]);
    const target = server.aliases.get(alias);
    assert.match(target ?? '', /^legforce_controls_nfr_/);
    assert.deepEqual([...server.collections.keys()], [target]);
    assert.equal((await nfrJson(['index', '--check'], env)).code, 0);
    assertOnlyDocumentedRequests(since);
  });
});
