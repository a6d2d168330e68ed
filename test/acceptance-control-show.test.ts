/**
 * `nfr control show ID` and `GET /api/v2/controls/{id}` (SPEC 4.3) for every id ingestion accepts:
 * the controls CSV takes `( )` in ids (NIST writes enhancements AC-2(1)), but the detail refused
 * them as "expected letters, digits or . _ : / -", so such a control could be loaded and found by
 * search, yet never shown.
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

const cluster = fileCluster(async () => {
  const db = await freshDatabase(cluster, 'acceptance_control_show', { ingested: true, env: { API_TOKENS } });
  env = db.env;
  const csv = path.join(cluster.tempDir('acceptance-control-show-csv'), 'controls.csv');
  writeFileSync(csv, 'control_id,title\nAC-2,Account Management\nAC-2(1),Automated System Account Management\n');
  const ingested = await nfrJson(['ingest', 'controls', csv, '--no-enrich'], env);
  assert.equal(ingested.code, 0, ingested.stderr);
  server = await serve(env);
  return () => server.stop();
});

describe('acceptance: control show', () => {
  it('shows a control whose id has parentheses, CLI and API, and still refuses ids no control can have', async () => {
    const cli = await nfrJson(['control', 'show', 'AC-2(1)'], env);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(cli.body.control_id, 'AC-2(1)');
    assert.equal(cli.body.attributes.title, 'Automated System Account Management');

    for (const route of ['/api/v2/controls/AC-2(1)', '/api/v2/controls/AC-2%281%29']) {
      const r = await api(server, 'GET', route, { token: READER });
      assert.equal(r.status, 200, `${route}: ${r.text}`);
      assert.equal(r.json.control_id, 'AC-2(1)');
    }

    const bad = await nfrJson(['control', 'show', "AC-2'; --"], env);
    assert.equal(bad.code, 12, bad.stderr);
    assert.equal(bad.body.error.code, 'INVALID_INPUT');
    const missing = await api(server, 'GET', '/api/v2/controls/AC-2(9)', { token: READER });
    assert.equal(missing.status, 404, missing.text);
  });
});
