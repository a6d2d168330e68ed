/**
 * Round trips against a real Qdrant server: sync, incremental sync, --check finding a deleted
 * point, search, and --force; then a full snapshot created, the data changed, restored (points
 * and vectors back as they were, no snapshot left on the server, no staging collection left) and
 * undone. Runs only when QDRANT_URL (and optionally QDRANT_API_KEY) is set; it works in its own
 * collection prefix and drops every collection and alias of that prefix at the end.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { QdrantClient } from '@qdrant/js-client-rest';
import { pointId } from '../src/index/point-id.js';
import { nfrJson, testEnv, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint } from './support/data.js';
import { changeControlText, closeControls, seedControls, syntheticControls } from './support/index-fixtures.js';

const QDRANT_URL = process.env.QDRANT_URL;
const skip = QDRANT_URL ? false : 'QDRANT_URL is not set: no live Qdrant to test against (request shapes are checked in qdrant-api.test.ts)';
const prefix = `nfrtest_${process.pid}_${Date.now()}`;

describe('Qdrant backend against a live server', { skip }, () => {
  let env: Env;
  let url: string;
  const client = () => new QdrantClient({ url: QDRANT_URL!, apiKey: process.env.QDRANT_API_KEY, checkCompatibility: false });

  const cluster = fileCluster(async () => {
    const db = await cluster.createDatabase('live');
    url = db.url;
    await seedControls(url, syntheticControls(40));
    env = testEnv({ DATABASE_URL: url, NFR_HOME: cluster.tempDir('live-home'), QDRANT_URL, QDRANT_API_KEY: process.env.QDRANT_API_KEY, QDRANT_COLLECTION_PREFIX: prefix });
  });

  after(async () => {
    if (QDRANT_URL) {
      for (const c of await ours()) {
        for (const s of await client().listSnapshots(c).catch(() => [])) await client().deleteSnapshot(c, s.name).catch(() => {});
        await client().deleteCollection(c).catch(() => {});
      }
    }
  });

  /** This test's collections (deleting them also drops their aliases). */
  async function ours(): Promise<string[]> {
    const { collections } = await client().getCollections();
    return collections.map((c) => c.name).filter((n) => n.startsWith(`${prefix}_`)).sort();
  }

  /** Where `<prefix>_controls` and `<prefix>_controls_nfr_prev` point. */
  async function aliases(): Promise<{ live?: string; prev?: string }> {
    const { aliases: all } = await client().getAliases();
    return {
      live: all.find((a) => a.alias_name === `${prefix}_controls`)?.collection_name,
      prev: all.find((a) => a.alias_name === `${prefix}_controls_nfr_prev`)?.collection_name,
    };
  }

  /** Every point of a collection (or alias) with its vector and payload, by id. */
  async function points(name: string): Promise<Record<string, { vector: unknown; payload: unknown }>> {
    const out: Record<string, { vector: unknown; payload: unknown }> = {};
    let offset: string | number | undefined;
    for (;;) {
      const page = await client().scroll(name, { limit: 256, offset, with_payload: true, with_vector: true });
      for (const p of page.points) out[String(p.id)] = { vector: p.vector, payload: p.payload };
      const next = page.next_page_offset;
      if (next === undefined || next === null || typeof next === 'object') return out;
      offset = next;
    }
  }

  async function serverSnapshots(): Promise<string[]> {
    const out: string[] = [];
    for (const c of await ours()) for (const s of await client().listSnapshots(c)) out.push(`${c}/${s.name}`);
    return out;
  }

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

  it('full snapshot: create, change, restore (points and vectors back), undo — nothing left on the server', async () => {
    const backups = cluster.tempDir('live-backups');
    const fenv = { ...env, POSTGRES_BACKUP_PATH: backups };
    assert.equal((await nfrJson(['index'], fenv)).code, 0);
    const original = { db: await fingerprint(url), points: await points(`${prefix}_controls`), aliases: await aliases() };
    assert.ok(original.aliases.live, 'the index is an aliased collection');

    const full = await nfrJson(['snapshot', 'create', '--name', 'live-golden', '--full'], fenv);
    assert.equal(full.code, 0, full.stderr);
    assert.equal(full.body.index.backend, 'qdrant');
    assert.equal(full.body.index.points, Object.keys(original.points).length);
    assert.deepEqual(await serverSnapshots(), [], 'the server-side snapshot was deleted after the download');
    assert.equal((await nfrJson(['snapshot', 'verify', '--id', full.body.id], fenv)).code, 0);

    await changeControlText(url, 'CTL-010', 'Control 10 rewritten for the live test', null);
    await closeControls(url, ['CTL-011']);
    assert.equal((await nfrJson(['index'], fenv)).code, 0);
    const changed = { db: await fingerprint(url), points: await points(`${prefix}_controls`), aliases: await aliases() };
    assert.notDeepEqual(changed.points, original.points);

    const restored = await nfrJson(['snapshot', 'restore', '--id', full.body.id, '--yes', '--skip-backup'], fenv);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await fingerprint(url), original.db);
    assert.deepEqual(await points(`${prefix}_controls`), original.points, 'points and vectors as they were');
    const after = await aliases();
    assert.equal(after.prev, changed.aliases.live, 'the replaced collection is kept for undo');
    assert.deepEqual(await ours(), [after.live, after.prev].sort(), 'no staging collection left');
    assert.deepEqual(await serverSnapshots(), [], 'no uploaded snapshot left on the server');
    assert.equal(restored.body.after_restore.index.status, 'in-sync');
    assert.equal((await nfrJson(['index', '--check'], fenv)).code, 0);

    const undo = await nfrJson(['snapshot', 'restore', '--undo', '--yes'], fenv);
    assert.equal(undo.code, 0, undo.stderr);
    assert.deepEqual(await fingerprint(url), changed.db);
    assert.deepEqual(await points(`${prefix}_controls`), changed.points);
    assert.deepEqual(await aliases(), { live: after.prev, prev: after.live });
  });
});
