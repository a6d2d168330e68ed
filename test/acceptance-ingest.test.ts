/**
 * `nfr ingest context --path` pointed at the wrong thing (SPEC 4.1), as a user mistypes it:
 *
 *   - a path that is a file, not a directory, is INVALID_INPUT (exit 12) saying it is not a
 *     directory, not NOT_FOUND claiming it "does not exist";
 *   - an empty --path is a usage error (exit 2), never the working directory read as the
 *     providers' folder;
 *   - a missing directory stays NOT_FOUND (exit 4);
 *   - none of them writes anything.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfr, nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { query } from './support/data.js';
import { freshDatabase } from './support/setup.js';

let env: Env;
let url: string;
let dir: string;

const cluster = fileCluster(async () => {
  const db = await freshDatabase(cluster, 'acceptance_ingest', { ingested: true });
  env = db.env;
  url = db.url;
  dir = cluster.tempDir('acceptance-ingest-context');
  const migrated = await nfrJson(['db', 'migrate'], env);
  assert.equal(migrated.code, 0, migrated.stderr);
});

describe('acceptance: ingest context --path', () => {
  it('says a file is not a directory (exit 12), a missing path does not exist (exit 4), an empty one is usage (exit 2)', async () => {
    const file = path.join(dir, 'functions.jsonl');
    writeFileSync(file, '{"id":"F1","name":"a"}\n');
    const notDir = await nfrJson(['ingest', 'context', '--path', file], env);
    assert.equal(notDir.code, 12, notDir.stderr);
    assert.equal(notDir.body.error.code, 'INVALID_INPUT');
    assert.match(notDir.body.error.message, /functions\.jsonl is not a directory/);

    const missing = await nfrJson(['ingest', 'context', '--path', path.join(dir, 'nope')], env);
    assert.equal(missing.code, 4, missing.stderr);
    assert.match(missing.body.error.message, /does not exist/);

    // The working directory holds a provider folder: an empty --path must not read it.
    const cwdProviders = path.join(dir, 'cwd');
    const folder = path.join(cwdProviders, 'organization', '2026-01-01');
    mkdirSync(folder, { recursive: true });
    writeFileSync(path.join(folder, 'functions.jsonl'), '{"id":"F1","name":"a"}\n');
    const empty = await nfr(['ingest', 'context', '--path', '', '--json'], env, cwdProviders);
    assert.equal(empty.code, 2, empty.stderr);
    assert.equal(JSON.parse(empty.stdout).error.code, 'USAGE');
    assert.match(JSON.parse(empty.stdout).error.message, /--path is empty/);

    const rows = await query(url, 'select count(*)::int as n from src_orgs_ref_function');
    assert.equal(rows[0].n, 0, 'nothing was written');
  });
});
