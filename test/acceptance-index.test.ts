/**
 * `nfr index --check` on a damaged embedded index (SPEC 4.3: it "compares PostgreSQL and the index
 * by id set and hash"). The check and the incremental sync read the payloads only; a generation
 * whose vectors were truncated (a full disk, a partial copy) or whose payload lines are fewer than
 * meta.json says was called consistent (ok: true, exit 0) while every search over it failed.
 * Now both say the index is damaged (VERIFY_FAILED, exit 6) and name `nfr index --force`, which
 * repairs it.
 */
import assert from 'node:assert/strict';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';

let env: Env;
let indexPath: string;

const cluster = fileCluster(async () => {
  indexPath = cluster.tempDir('acceptance-index-index');
  const db = await freshDatabase(cluster, 'acceptance_index', { ingested: true, env: { NFR_INDEX_PATH: indexPath } });
  env = db.env;
  const csv = path.join(cluster.tempDir('acceptance-index-csv'), 'controls.csv');
  writeFileSync(csv, `control_id,title\n${Array.from({ length: 12 }, (_, i) => `IX-${i + 1},Access review number ${i + 1}`).join('\n')}\n`);
  const ingested = await nfrJson(['ingest', 'controls', csv], env);
  assert.equal(ingested.code, 0, ingested.stderr);
});

const liveGeneration = () => path.join(indexPath, readFileSync(path.join(indexPath, 'CURRENT'), 'utf8').trim());

describe('acceptance: index --check on a damaged index', () => {
  it('reports truncated vectors and missing payload lines as damage (exit 6), and --force repairs it', async () => {
    const built = await nfrJson(['index'], env);
    assert.equal(built.code, 0, built.stderr);
    assert.equal(built.body.points, 12);
    const fine = await nfrJson(['index', '--check'], env);
    assert.equal(fine.code, 0, fine.stderr);
    assert.equal(fine.body.ok, true);

    truncateSync(path.join(liveGeneration(), 'vectors.f32'), 1000);
    for (const args of [['index', '--check'], ['index']]) {
      const r = await nfrJson(args, env);
      assert.equal(r.code, 6, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.body.error.code, 'VERIFY_FAILED');
      assert.match(r.body.error.message, /vectors\.f32: 1000 bytes .*12 points.*nfr index --force/);
    }
    const forced = await nfrJson(['index', '--force'], env);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal((await nfrJson(['index', '--check'], env)).body.ok, true);
    const search = await nfrJson(['search', 'access review', '--mode', 'semantic'], env);
    assert.equal(search.code, 0, search.stderr);
    assert.equal(search.body.results.length, 10);

    const points = path.join(liveGeneration(), 'points.jsonl');
    const lines = readFileSync(points, 'utf8').split('\n').filter(Boolean);
    writeFileSync(points, `${lines.slice(0, -1).join('\n')}\n`);
    const short = await nfrJson(['index', '--check'], env);
    assert.equal(short.code, 6, short.stderr);
    assert.match(short.body.error.message, /points\.jsonl: 11 points where meta\.json says 12/);
  });
});
