/**
 * What the API says to a client that sent something wrong (issue 19 item 9): validation errors of
 * every route say what to send instead, in the words of the request (query parameter, field of
 * the JSON body), never JSON-schema wording; an unknown page asked for by a browser gets the
 * console (which shows its not-found view), not a JSON 401.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ADMIN, api, API_TOKENS, READER, serve, type Server } from './support/api.js';
import { fileCluster } from './support/cluster.js';
import { controlsDb } from './support/controls-fixtures.js';

let server: Server;
let backups: string;

const cluster = fileCluster(async () => {
  const db = await controlsDb(cluster, 'wording');
  backups = db.env.POSTGRES_BACKUP_PATH!;
  server = await serve({ ...db.env, API_TOKENS });
  return () => server.stop();
});

/** Schema wording that must never reach a client. */
const SCHEMA_WORDS = /must match pattern|must be equal to one of|must NOT have additional properties|must have required property|must be boolean|querystring\/|body\/|params\//;

describe('API validation messages', () => {
  it('say what to send instead, on every kind of schema check', async () => {
    const cases: [string, string, unknown, string][] = [
      ['GET', '/api/v2/pipelines/uploads?limit=abc', undefined, 'query parameter limit: "abc" is not valid; send a whole number from 1 to 200 (default 20)'],
      ['GET', '/api/v2/pipelines/uploads?offset=-1', undefined, 'query parameter offset: "-1" is not valid; send a whole number of uploads to skip, 0 or more'],
      ['GET', '/api/v2/pipelines/uploads?colour=red', undefined, 'query parameter colour is not known; send only limit, offset'],
      ['GET', '/api/v2/jobs?status=done', undefined, 'query parameter status: "done" is not valid; send one of "pending", "running", "completed", "failed", "cancelled"'],
      ['GET', '/api/v2/jobs?limit=lots', undefined, 'query parameter limit: "lots" is not valid; send a whole number of jobs from 1 to 9999 (default 100)'],
      ['GET', '/api/v2/controls/search?q=x&limit=1e3', undefined, 'query parameter limit: "1e3" is not valid; send a whole number from 1 to 100'],
      ['GET', '/api/v2/controls/search', undefined, 'query parameter q is required'],
      ['POST', '/api/v2/devdata/snapshots/SNAP-2026-0001/restore', { skip_backup: 'yes' }, 'field skip_backup of the JSON body: "yes" is not valid; send true or false'],
      ['POST', '/api/v2/devdata/snapshots/SNAP-2026-0001/restore', { wipe: true }, 'field wipe of the JSON body is not known; send only skip_backup, force, resync, create_pre_restore_backup'],
      ['POST', '/api/v2/devdata/snapshots/SNAP-2026-0001/restore', [1], 'the request body must be a JSON object'],
    ];
    for (const [method, route, body, message] of cases) {
      const r = await api(server, method, route, { token: ADMIN, body });
      assert.equal(r.status, 400, `${method} ${route}: ${r.text}`);
      assert.equal(r.json.error.code, 'INVALID_INPUT', route);
      assert.doesNotMatch(r.json.error.message, SCHEMA_WORDS, route);
      assert.ok(r.json.error.message.startsWith(message.replace(/ \(default .*\)$/, '')), `${method} ${route}\n  got:      ${r.json.error.message}\n  expected: ${message}`);
    }
  });
});

describe('404 answers', () => {
  it('name what is missing without showing readers where the server keeps its backups', async () => {
    for (const route of ['/api/v2/devdata/snapshots/SNAP-2026-9999', '/api/v2/devdata/snapshots/SNAP-2026-9999/restore-plan']) {
      const r = await api(server, 'GET', route, { token: READER });
      assert.equal(r.status, 404, `${route}: ${r.text}`);
      assert.match(r.json.error.message, /SNAP-2026-9999 not found/);
      assert.ok(!r.text.includes(backups), `${route} shows the backup path: ${r.text}`);
    }
  });
});

describe('unknown pages in a browser', () => {
  it('answer 404 with the console (its not-found view), not a JSON 401; API clients still get JSON', async () => {
    const page = await api(server, 'GET', '/no/such/page', { token: null, headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    assert.equal(page.status, 404, page.text);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(page.text, /<div id="root"><\/div>/);
    assert.match(page.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);

    // Not for the API, not for a client that does not ask for HTML, not for other methods.
    const apiPath = await api(server, 'GET', '/api/v2/no-such-route', { token: null, headers: { accept: 'text/html' } });
    assert.equal(apiPath.status, 401);
    assert.equal(apiPath.json.error.code, 'UNAUTHORIZED');
    const json = await api(server, 'GET', '/no/such/page', { token: null, headers: { accept: 'application/json' } });
    assert.equal(json.status, 401);
    const signedIn = await api(server, 'GET', '/no/such/page', { token: READER, headers: { accept: 'application/json' } });
    assert.equal(signedIn.status, 404);
    assert.equal(signedIn.json.error.code, 'NOT_FOUND');
    const post = await api(server, 'POST', '/no/such/page', { token: null, headers: { accept: 'text/html' } });
    assert.equal(post.status, 401);
  });
});
