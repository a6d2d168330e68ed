/**
 * Search as a hostile user drives it (SPEC 4.3, 6, 7), through the CLI and a running server, on a
 * handful of controls whose ids differ only where a LIKE pattern would not see it:
 *
 *   - id mode finds the controls whose id is the query or starts with it, comparing text: `_` (a
 *     character control ids may hold) and `%` are not wildcards, so `X_1` is not `X-1` and `%`
 *     finds nothing rather than every control;
 *   - hybrid search puts a control whose id the query names first, parentheses included
 *     (`AC-2(1)`, as NIST writes enhancements), even inside punctuation (`(AC-2(1)).`);
 *   - a status filter outside the control statuses is refused naming them (400 / exit 12), never
 *     an empty page that looks like an empty catalogue.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { API_TOKENS, READER, api, serve, type Server } from './support/api.js';
import { nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';

let env: Env;
let server: Server;

const IDS = ['X-1', 'X-10', 'XA1', 'X_1', 'X_1.2', 'Y-1', 'AC-2', 'AC-2(1)'];

const cluster = fileCluster(async () => {
  const db = await freshDatabase(cluster, 'acceptance_search', { ingested: true, env: { API_TOKENS } });
  env = db.env;
  const csv = path.join(cluster.tempDir('acceptance-search-csv'), 'controls.csv');
  writeFileSync(csv, `control_id,title,status\n${IDS.map((id, i) => `${id},Account review ${i},${i === 5 ? 'retired' : 'active'}`).join('\n')}\n`);
  const ingested = await nfrJson(['ingest', 'controls', csv, '--no-enrich'], env);
  assert.equal(ingested.code, 0, ingested.stderr);
  const indexed = await nfrJson(['index'], env);
  assert.equal(indexed.code, 0, indexed.stderr);
  server = await serve(env);
  return () => server.stop();
});

const ids = (results: { control_id: string }[]) => results.map((r) => r.control_id).sort();

describe('acceptance: search', () => {
  it('id mode compares the id as text: _ and % are no wildcards (CLI and API)', async () => {
    const underscore = await nfrJson(['search', 'X_1', '--mode', 'id'], env);
    assert.equal(underscore.code, 0, underscore.stderr);
    assert.deepEqual(ids(underscore.body.results), ['X_1', 'X_1.2']);
    const percent = await nfrJson(['search', '%', '--mode', 'id'], env);
    assert.equal(percent.code, 0, percent.stderr);
    assert.deepEqual(percent.body.results, []);
    const prefix = await nfrJson(['search', 'x-1', '--mode', 'id'], env);
    assert.deepEqual(ids(prefix.body.results), ['X-1', 'X-10']);

    const g = await api(server, 'GET', '/api/v2/controls/search?q=X_1&mode=id', { token: READER });
    assert.equal(g.status, 200, g.text);
    assert.deepEqual(ids(g.json.results), ['X_1', 'X_1.2']);
    const p = await api(server, 'POST', '/api/v2/controls/search', { token: READER, body: { q: '%_', mode: 'id' } });
    assert.equal(p.status, 200, p.text);
    assert.deepEqual(p.json.results, []);
  });

  it('refuses a status filter that is no control status, naming the statuses (CLI exit 12, API 400)', async () => {
    const cli = await nfrJson(['search', 'account', '--mode', 'keyword', '--status', 'active,actve'], env);
    assert.equal(cli.code, 12, cli.stderr);
    assert.equal(cli.body.error.code, 'INVALID_INPUT');
    assert.match(cli.body.error.message, /status "actve".*active, inactive, draft, retired/);
    const g = await api(server, 'GET', '/api/v2/controls/search?q=account&mode=keyword&status=Active', { token: READER });
    assert.equal(g.status, 400, g.text);
    assert.equal(g.json.error.code, 'INVALID_INPUT');
    assert.match(g.json.error.message, /status "Active"/);
    const p = await api(server, 'POST', '/api/v2/controls/search', { token: READER, body: { q: 'account', mode: 'keyword', filters: { status: ['bogus'] } } });
    assert.equal(p.status, 400, p.text);
    // A real status still filters.
    const retired = await api(server, 'GET', '/api/v2/controls/search?q=account&mode=keyword&status=retired', { token: READER });
    assert.equal(retired.status, 200, retired.text);
    assert.deepEqual(ids(retired.json.results), ['Y-1']);
  });

  it('puts a control named by an id with parentheses first in hybrid search (CLI and API)', async () => {
    for (const q of ['AC-2(1)', 'see (ac-2(1)).']) {
      const cli = await nfrJson(['search', q], env);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.body.results[0]?.control_id, 'AC-2(1)', `${q}: ${JSON.stringify(cli.body.results.slice(0, 3))}`);
      assert.equal(cli.body.results[0].match.id, true);
    }
    const g = await api(server, 'GET', `/api/v2/controls/search?q=${encodeURIComponent('AC-2(1)')}`, { token: READER });
    assert.equal(g.status, 200, g.text);
    assert.equal(g.json.results[0]?.control_id, 'AC-2(1)');
  });
});
