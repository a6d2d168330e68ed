/**
 * The HTTP service against bodies of the wrong type or size (SPEC 6, 7: "oversize, wrong type, or
 * malformed bodies get a 4xx with a reason"), on a running server:
 *
 *   - a JSON object sent as text/plain (what fetch() labels a string body) is refused as the
 *     wrong type, 415 naming text/plain and application/json, not "must be a JSON object";
 *   - any other type (XML, a form) is a 415 that says which type came and what to send;
 *   - a JSON body over the limit is a 413 that says the limit;
 *   - none of them creates anything.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { API_TOKENS, OPERATOR, READER, api, serve, type Server } from './support/api.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';

let server: Server;

const cluster = fileCluster(async () => {
  const db = await freshDatabase(cluster, 'acceptance_http', { env: { API_TOKENS } });
  server = await serve(db.env);
  return () => server.stop();
});

const create = (body: string, contentType: string) => api(server, 'POST', '/api/v2/devdata/snapshots/create', { token: OPERATOR, body, headers: { 'content-type': contentType } });

describe('acceptance: HTTP bodies', () => {
  it('refuses a body of the wrong Content-Type with 415 naming the type sent and application/json', async () => {
    const plain = await create(JSON.stringify({ name: 'sent as text' }), 'text/plain;charset=UTF-8');
    assert.equal(plain.status, 415, plain.text);
    assert.equal(plain.json.error.code, 'UNSUPPORTED_MEDIA_TYPE');
    assert.match(plain.json.error.message, /Content-Type text\/plain is not accepted.*application\/json/);
    const xml = await create('<name>x</name>', 'application/xml');
    assert.equal(xml.status, 415, xml.text);
    assert.match(xml.json.error.message, /Content-Type application\/xml is not accepted/);
    const form = await create('name=x', 'application/x-www-form-urlencoded');
    assert.equal(form.status, 415, form.text);
    assert.match(form.json.error.message, /application\/x-www-form-urlencoded/);
    const list = await api(server, 'GET', '/api/v2/devdata/snapshots', { token: READER });
    assert.deepEqual(list.json.snapshots, [], 'none of the refused requests created a snapshot');
  });

  it('refuses a JSON body over the limit with 413 saying the limit', async () => {
    const big = await create(JSON.stringify({ name: 'x', description: 'd'.repeat(1_100_000) }), 'application/json');
    assert.equal(big.status, 413, big.text);
    assert.equal(big.json.error.code, 'PAYLOAD_TOO_LARGE');
    assert.match(big.json.error.message, /limit of 1048576 bytes/);
  });
});
