/**
 * The vector index end to end against a real cluster, through the CLI: one point per current
 * control, incremental sync by text hash, --check by ids and hashes, --force, model mismatch,
 * crash safety of the embedded index, and search quality on the NIST SP 800-53 HIGH baseline.
 */
import assert from 'node:assert/strict';
import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { LocalEmbedder } from '../src/enrich/local-embedder.js';
import { EmbeddedIndex } from '../src/index/embedded.js';
import { pointId, uuidV5 } from '../src/index/point-id.js';
import { TopK } from '../src/index/top-k.js';
import { controlText } from '../src/ingest/text.js';
import { nfr, nfrJson, spawnNfr, testEnv, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { query } from './support/data.js';
import { changeControlText, closeControls, hashOf, readNist, seedControls, syntheticControls, withUrl } from './support/index-fixtures.js';

const cluster = fileCluster();

async function setup(prefix: string, controls = syntheticControls(30)): Promise<{ url: string; env: Env; indexPath: string }> {
  const db = await cluster.createDatabase(prefix);
  await seedControls(db.url, controls);
  const home = cluster.tempDir(`${prefix}-home`);
  const indexPath = path.join(home, 'index');
  return { url: db.url, indexPath, env: testEnv({ DATABASE_URL: db.url, NFR_HOME: home, NFR_INDEX_PATH: indexPath }) };
}

async function generation(indexPath: string): Promise<string> {
  return path.join(indexPath, (await readFile(path.join(indexPath, 'CURRENT'), 'utf8')).trim());
}

describe('point ids and ranking (pure)', () => {
  it('computes RFC UUIDv5 and stable point ids', () => {
    // The RFC 4122 / Python uuid documentation example: uuid5(NAMESPACE_DNS, 'python.org').
    assert.equal(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'python.org'), '886313e1-3b8a-5372-9b90-0c9aee199e5d');
    assert.equal(pointId('AC-2.1'), pointId('AC-2.1'));
    assert.notEqual(pointId('AC-2.1'), pointId('AC-2.2'));
    assert.match(pointId('AC-2.1'), /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('keeps the k best rows, ties to the earlier row', () => {
    const top = new TopK(3);
    [0.1, 0.9, 0.5, 0.9, 0.2, 0.7].forEach((s, row) => {
      top.offer(row, s);
    });
    assert.deepEqual(top.sorted().map((r) => r.row), [1, 3, 5]);
  });
});

// Each test has its own database and index directory, so they run side by side.
describe('nfr index', { concurrency: 3 }, () => {
  it('builds one point per current control and syncs only what changed', async () => {
    const { url, env, indexPath } = await setup('sync');
    // Closed history rows and a retired control: only current versions count, retired ones included.
    await changeControlText(url, 'CTL-002', 'Control 2: revised wording', 'New text.');
    // Enrichment already stored embeddings for five controls: sync reuses them instead of embedding.
    const local = new LocalEmbedder();
    const reusedIds = ['CTL-001', 'CTL-003', 'CTL-004', 'CTL-005', 'CTL-006'];
    await withUrl(url, async (c) => {
      const rows = (await c.query<{ control_id: string; title: string; description: string; text_hash: string }>('select control_id, title, description, text_hash from src_controls_ver_control where tx_to is null and control_id = any($1) order by 1', [reusedIds])).rows;
      const vectors = await local.embed(rows.map((r) => controlText(r.title, r.description)));
      await c.query(
        `insert into ai_controls_embedding (control_id, text_hash, model_name, model_version, dimension, vector)
         select id, th, $3, '1', $4, string_to_array(v, ',')::real[] from unnest($1::text[], $2::text[], $5::text[]) as u(id, th, v)`,
        [rows.map((r) => r.control_id), rows.map((r) => r.text_hash), local.model, local.dimension, vectors.map((v) => Array.from(v).join(','))],
      );
    });

    const first = await nfrJson(['index'], env);
    assert.equal(first.code, 0, first.stderr);
    assert.equal(first.body.backend, 'embedded');
    assert.deepEqual([first.body.controls, first.body.points, first.body.upserted, first.body.embedded, first.body.reused, first.body.deleted], [30, 30, 30, 25, 5, 0]);
    assert.equal(first.body.model.model, 'nfr-local-hash-v1');
    const gen = await generation(indexPath);
    assert.equal((await stat(path.join(gen, 'vectors.f32'))).size, 30 * 384 * 4);
    const lines = (await readFile(path.join(gen, 'points.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((p) => p.control_id).sort(), syntheticControls(30).map((c) => c.control_id));
    const ctl1 = lines.find((p) => p.control_id === 'CTL-001');
    assert.deepEqual(ctl1.risk_theme_ids, ['RT-ACCESS', 'RT-DATA']);
    assert.equal(lines.find((p) => p.control_id === 'CTL-010').status, 'retired');
    assert.equal(lines.find((p) => p.control_id === 'CTL-002').title, 'Control 2: revised wording');
    const stage = await query(url, 'select stage, counts from nfr_pipeline_stage');
    assert.equal(stage[0].stage, 'indexed');
    assert.equal(stage[0].counts.index_points, 30);

    // Three texts change, two controls close, one changes status only, one is new.
    for (const id of ['CTL-011', 'CTL-012', 'CTL-013']) await changeControlText(url, id, `${id} rewritten`, 'Different words entirely.');
    await closeControls(url, ['CTL-020', 'CTL-021']);
    await query(url, "update src_controls_ver_control set status = 'inactive' where control_id = 'CTL-022' and tx_to is null");
    await seedMore(url);

    const second = await nfrJson(['index'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(
      { controls: second.body.controls, points: second.body.points, upserted: second.body.upserted, embedded: second.body.embedded, deleted: second.body.deleted, unchanged: second.body.unchanged },
      { controls: 29, points: 29, upserted: 5, embedded: 5, deleted: 2, unchanged: 24 },
    );
    const after = (await readFile(path.join(await generation(indexPath), 'points.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(!after.some((p) => p.control_id === 'CTL-020' || p.control_id === 'CTL-021'), 'closed controls have no point');
    assert.equal(after.find((p) => p.control_id === 'CTL-022').status, 'inactive');
    assert.equal(after.find((p) => p.control_id === 'CTL-011').title, 'CTL-011 rewritten');
    // The old generation was replaced, not kept.
    assert.deepEqual((await readdir(indexPath)).sort(), ['CURRENT', path.basename(await generation(indexPath))]);

    const third = await nfrJson(['index'], env);
    assert.deepEqual([third.body.upserted, third.body.deleted, third.body.unchanged, third.body.points], [0, 0, 29, 29]);
  });

  it('--check finds a deleted point, a stale hash and an orphan, printing one JSON document', async () => {
    const { url, env, indexPath } = await setup('check');
    assert.equal((await nfrJson(['index'], env)).code, 0);
    const ok = await nfrJson(['index', '--check'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.body.ok, true);
    assert.equal(ok.body.points, 30);

    // Delete a point through the backend, as a damaged or partially restored index would lack it.
    const index = new EmbeddedIndex(indexPath);
    const description = (await index.describe())!;
    const writer = await index.begin(description, { reset: false });
    await writer.delete(['CTL-007']);
    assert.equal(await writer.commit(description.source_signature ?? ''), 29);
    await query(url, "update src_controls_ver_control set text_hash = 'not-the-indexed-hash' where control_id = 'CTL-008' and tx_to is null");
    await closeControls(url, ['CTL-009']);

    const bad = await nfr(['index', '--check', '--json'], env);
    assert.equal(bad.code, 6, bad.stderr);
    const report = JSON.parse(bad.stdout); // one document: the report, not a second error object
    assert.equal(report.ok, false);
    assert.deepEqual(report.missing, { count: 1, ids: ['CTL-007'] });
    assert.deepEqual(report.stale, { count: 1, ids: [{ control_id: 'CTL-008', reason: 'text' }] });
    assert.deepEqual(report.orphan, { count: 1, ids: ['CTL-009'] });
    assert.equal(report.controls, 29);
    assert.equal(report.points, 29, 'same count as PostgreSQL, yet inconsistent: counts alone would miss it');
    assert.match(bad.stderr, /1 missing, 1 stale, 1 orphan/);

    const human = await nfr(['index', '--check'], env);
    assert.equal(human.code, 6);
    assert.match(human.stdout, /INCONSISTENT/);
    assert.match(human.stdout, /missing +1: CTL-007/);

    const fixed = await nfrJson(['index'], env);
    assert.deepEqual([fixed.body.upserted, fixed.body.deleted], [2, 1]);
    assert.equal((await nfrJson(['index', '--check'], env)).body.ok, true);
  });

  it('refuses an index built with another model until --force rebuilds it', async () => {
    const { env, indexPath } = await setup('model');
    assert.equal((await nfrJson(['index'], env)).code, 0);
    const metaFile = path.join(await generation(indexPath), 'meta.json');
    const meta = JSON.parse(await readFile(metaFile, 'utf8'));
    await writeFile(metaFile, JSON.stringify({ ...meta, model: 'some-other-model', dimension: 768 }));

    const refused = await nfrJson(['index'], env);
    assert.equal(refused.code, 5);
    assert.equal(refused.body.error.code, 'SCHEMA_MISMATCH');
    assert.match(refused.body.error.message, /some-other-model.*768.*nfr-local-hash-v1.*nfr index --force/);
    const search = await nfrJson(['search', 'password'], env);
    assert.equal(search.code, 5);
    const check = await nfrJson(['index', '--check'], env);
    assert.equal(check.code, 5, 'a model mismatch exits as for index and search');
    assert.match(check.body.model_mismatch, /some-other-model/);

    const rebuilt = await nfrJson(['index', '--force'], env);
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.deepEqual([rebuilt.body.forced, rebuilt.body.upserted, rebuilt.body.embedded, rebuilt.body.points], [true, 30, 30, 30]);
    assert.equal(JSON.parse(await readFile(path.join(await generation(indexPath), 'meta.json'), 'utf8')).model, 'nfr-local-hash-v1');
    assert.equal((await nfrJson(['index', '--check'], env)).body.ok, true);
    assert.equal((await nfr(['index', '--force', '--check'], env)).code, 2);

    // A damaged index is reported with what to do, and --force replaces it without reading it.
    await writeFile(path.join(await generation(indexPath), 'meta.json'), '{"format": 1, "mod');
    const damaged = await nfrJson(['index'], env);
    assert.equal(damaged.code, 6);
    assert.match(damaged.body.error.message, /meta\.json: damaged.*nfr index --force/);
    const repaired = await nfrJson(['index', '--force'], env);
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.equal(repaired.body.points, 30);
  });

  for (const point of ['index-staged', 'index-before-swap']) {
    it(`a nfr index killed at ${point} leaves the previous index whole`, async () => {
      const { url, env, indexPath } = await setup(`kill_${point.replace(/-/g, '_')}`);
      assert.equal((await nfrJson(['index'], env)).code, 0);
      const before = await generation(indexPath);
      const beforeBytes = await readFile(path.join(before, 'points.jsonl'));
      await changeControlText(url, 'CTL-001', 'Control 1 rewritten', null);
      await closeControls(url, ['CTL-002']);

      const child = spawnNfr(['index'], { ...env, NFR_FAULT_POINT: point });
      await waitForStderr(child, new RegExp(`nfr-fault-point: ${point}`));
      // It holds the shared operation lock: neither a second sync nor a snapshot can start.
      const second = await nfrJson(['index'], env);
      assert.equal(second.code, 3, second.stderr);
      assert.equal(second.body.error.code, 'LOCKED');
      child.kill('SIGKILL');
      await waitForExit(child);

      assert.equal(await generation(indexPath), before, 'CURRENT still names the old generation');
      assert.deepEqual(await readFile(path.join(before, 'points.jsonl')), beforeBytes);
      const check = await nfrJson(['index', '--check'], env);
      assert.equal(check.code, 6);
      assert.deepEqual([check.body.points, check.body.stale.count, check.body.orphan.count], [30, 1, 1]);
      const search = await nfrJson(['search', 'password rotation'], env);
      assert.equal(search.code, 0, search.stderr);
      assert.ok(search.body.results.length > 0);

      const resumed = await nfrJson(['index'], env);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual([resumed.body.upserted, resumed.body.deleted, resumed.body.points], [1, 1, 29]);
      assert.ok(!(await readdir(indexPath)).some((n) => n.startsWith('.tmp-')), 'the killed write was cleaned up');
    });
  }
});

describe('nfr search', { concurrency: 2 }, () => {
  it('ranks the control a person would name in the top 5 on the NIST HIGH baseline', async () => {
    const nist = await readNist();
    assert.ok(nist.length > 300);
    const { url, env } = await setup('nist', nist);
    const built = await nfrJson(['index'], env);
    assert.equal(built.code, 0, built.stderr);
    assert.equal(built.body.points, nist.length);

    const cases: [string, RegExp][] = [
      ['multi-factor authentication for privileged accounts', /^IA-2(\.|$)/],
      ['backups of system data', /^CP-9(\.|$)/],
      ['audit record retention', /^AU-11(\.|$)/],
      ['incident response training for staff', /^IR-2(\.|$)/],
    ];
    for (const [q, expected] of cases) {
      const r = await nfrJson(['search', q, '--limit', '5'], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.body.results.length, 5);
      const ids = r.body.results.map((h: { control_id: string }) => h.control_id);
      assert.ok(ids.some((id: string) => expected.test(id)), `"${q}" → ${ids.join(', ')}`);
      const scores = r.body.results.map((h: { score: number }) => h.score);
      assert.deepEqual(scores, [...scores].sort((a, b) => b - a), 'best first');
      assert.ok(r.body.results.every((h: { title: string; status: string }) => h.title && h.status === 'active'));
      assert.deepEqual(r.body.warnings, []);
    }

    const human = await nfr(['search', 'multi-factor authentication for privileged accounts'], env);
    assert.equal(human.code, 0);
    assert.match(human.stdout, /^#\s+CONTROL\s+SCORE\s+STATUS\s+FAMILY\s+TITLE/);
    assert.equal(human.stdout.trim().split('\n').length, 12, 'header, the default 10 results and the next page');
    assert.match(human.stdout, /\nmore: --cursor \S+\n$/);

    // After a change the index still answers, and says it is out of date.
    await changeControlText(url, 'AC-1', 'Policy and Procedures (revised)', null);
    const stale = await nfrJson(['search', 'account management'], env);
    assert.equal(stale.code, 0);
    assert.match(stale.body.warnings.join(' '), /out of date/);
    assert.match(stale.stderr, /warning: the index is out of date/);

    assert.equal((await nfr(['search', 'x', '--limit', '101'], env)).code, 2);
    assert.equal((await nfr(['search', '   '], env)).code, 2);
  });

  it('answers NOT_FOUND before the first nfr index', async () => {
    const { env } = await setup('empty', syntheticControls(3));
    const r = await nfrJson(['search', 'anything'], env);
    assert.equal(r.code, 4);
    assert.match(r.body.error.message, /nfr index/);
  });
});

/** One brand-new control. */
async function seedMore(url: string): Promise<void> {
  const c = { control_id: 'CTL-NEW', title: 'Quarterly key rotation', description: 'Rotate encryption keys every quarter.' };
  await query(url, 'insert into src_controls_ref_control (control_id) values ($1)', [c.control_id]);
  await query(url, "insert into src_controls_ver_control (control_id, title, description, status, text_hash) values ($1, $2, $3, 'active', $4)", [c.control_id, c.title, c.description, hashOf(c)]);
}
