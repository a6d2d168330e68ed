/**
 * The audit trail past its ninth entry (SPEC 7; README: "newest first", `next_cursor` pages on),
 * through `nfr audit` and `GET /api/v2/audit`. The list selected `audit_id::text` and ordered by
 * `audit_id`, which in ORDER BY names the output column, the text: entry 9 came before 26 and 2
 * before 19, and cursor pages (compared as numbers) skipped entries.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN, API_TOKENS, api, serve, type Server } from './support/api.js';
import { nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { controlQuery } from './support/data.js';
import { freshDatabase } from './support/setup.js';

let env: Env;
let server: Server;

const cluster = fileCluster(async () => {
  const db = await freshDatabase(cluster, 'acceptance_audit', { env: { API_TOKENS } });
  env = db.env;
  // One real audited action creates the trail (a failed ingestion is recorded too) ...
  const failed = await nfrJson(['ingest', 'controls', '/nonexistent/controls.csv'], env);
  assert.equal(failed.code, 4, failed.stderr);
  // ... and eleven more rows take it past 9, where text and number order part.
  await controlQuery(db.url, `insert into nfr_audit (actor_kind, actor_name, action, host, status) select 'cli', 'tester', 'test.action', 'host', 'succeeded' from generate_series(1, 11)`);
  server = await serve(env);
  return () => server.stop();
});

describe('acceptance: audit order', () => {
  it('lists the trail newest first by number and pages through every entry once (CLI and API)', async () => {
    const cli = await nfrJson(['audit', '--limit', '100'], env);
    assert.equal(cli.code, 0, cli.stderr);
    const ids = cli.body.entries.map((e: { audit_id: string }) => Number(e.audit_id));
    assert.equal(ids.length, 12);
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), `newest first: ${ids.join(',')}`);
    assert.equal(ids[0], Math.max(...ids));

    const seen: number[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<typeof api>> = await api(server, 'GET', `/api/v2/audit?limit=5${cursor ? `&cursor=${cursor}` : ''}`, { token: ADMIN });
      assert.equal(page.status, 200, page.text);
      seen.push(...page.json.entries.map((e: { audit_id: string }) => Number(e.audit_id)));
      cursor = page.json.next_cursor;
    } while (cursor !== null);
    assert.deepEqual(seen, ids, 'the pages hold every entry once, in the same order');
  });
});
