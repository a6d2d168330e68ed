/**
 * The audit trail (issue 19 item 10): named tokens, every state-changing action recorded in the
 * control database with who, what, when, from where and how it ended — from the API (a real
 * `nfr serve`) and the CLI — `nfr audit`, `GET /api/v2/audit`, and never a token.
 */
import assert from 'node:assert/strict';
import { userInfo } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AUDITED_COMMANDS } from '../src/cli/audit-trail.js';
import { AUDITED_PATHS } from '../src/cli/main.js';
import { parseApiTokens, redact, resolveConfig } from '../src/config.js';
import { nfr, nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';
import { query } from './support/data.js';
import { waitFor } from './support/wait.js';
import { ADMIN, api, OPERATOR, pollJob, READER, serve, type Server } from './support/api.js';

let server: Server;
let env: Env;
let controlUrl: string;

/** Alice's admin token is named; the others have the short form. */
const TOKENS = `alice:admin:${ADMIN},operator:${OPERATOR},reader:${READER}`;

const cluster = fileCluster(async () => {
  const db = await freshDatabase(cluster, 'audit', { env: { CONTEXT_PROVIDERS_PATH: path.join(cluster.tempDir('audit-context'), 'missing'), API_TOKENS: TOKENS } });
  env = db.env;
  controlUrl = cluster.url(`${db.name}_nfr`);
  server = await serve(env);
  return () => server.stop();
});

async function auditEntries(qs = ''): Promise<any[]> {
  const r = await api(server, 'GET', `/api/v2/audit${qs}`, { token: ADMIN });
  assert.equal(r.status, 200, r.text);
  return r.json.entries;
}

/** Waits (bounded) until the entry with `requestId` has ended. */
function endedEntry(requestId: string): Promise<any> {
  return waitFor(
    async () => {
      const entry = (await auditEntries('?limit=1000')).find((e) => e.request_id === requestId);
      return entry && entry.status !== 'started' ? entry : undefined;
    },
    { what: `the audit entry of ${requestId} to end` },
  );
}

describe('API_TOKENS names', () => {
  it('reads role:token (named <role>-<n>) and name:role:token, the first part deciding', () => {
    assert.deepEqual(parseApiTokens('admin:abc:def,reader:r1,reader:r2,alice:operator:x:y'), [
      { name: 'admin-1', role: 'admin', token: 'abc:def' },
      { name: 'reader-1', role: 'reader', token: 'r1' },
      { name: 'reader-2', role: 'reader', token: 'r2' },
      { name: 'alice', role: 'operator', token: 'x:y' },
    ]);
    assert.match(String(parseApiTokens('bob:nobody:tok')), /entry 1 is neither/);
    assert.match(String(parseApiTokens('justtoken')), /entry 1 is neither/);
    assert.match(String(parseApiTokens('al ice:admin:tok')), /name that is not letters/);
    assert.match(String(parseApiTokens('a:admin:t1,a:reader:t2')), /"a" names two tokens/);
    assert.match(String(parseApiTokens('a:admin:t1,b:reader:t1')), /each token given once/);
    assert.throws(() => resolveConfig({ env: { API_TOKENS: 'bob:nobody:secret-tok' }, cwd: '/' }), (err: Error) => !err.message.includes('secret-tok') && /API_TOKENS/.test(err.message));
    assert.equal(redact('API_TOKENS', 'alice:admin:s1,reader:s2'), 'alice:admin:***,reader:***');
  });
});

describe('audit trail', () => {
  it('records an API action that queued a job: who, what, from where, its job and its end', async () => {
    const created = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { token: OPERATOR, body: { name: 'audited', tags: ['t1'] }, headers: { 'x-request-id': 'audit-create-1' } });
    assert.equal(created.status, 202, created.text);
    assert.equal((await pollJob(server, created.json.job_id)).status, 'completed');
    const entry = await endedEntry('audit-create-1');
    assert.equal(entry.actor_kind, 'token');
    assert.equal(entry.actor_name, 'operator-1');
    assert.equal(entry.actor_role, 'operator');
    assert.equal(entry.action, 'snapshot.create');
    assert.equal(entry.target, created.json.snapshot_id);
    assert.deepEqual(entry.params, { name: 'audited', tags: ['t1'] });
    assert.equal(entry.client_ip, '127.0.0.1');
    assert.ok(entry.host);
    assert.equal(entry.job_id, created.json.job_id);
    assert.equal(entry.status, 'succeeded');
    assert.equal(entry.error_code, null);
    assert.ok(Date.parse(entry.finished_at) >= Date.parse(entry.at));

    // A job that fails ends its action failed, with the job's error code.
    const context = await api(server, 'POST', '/api/v2/pipelines/context/ingest', { token: ADMIN, headers: { 'x-request-id': 'audit-context-1' } });
    assert.equal(context.status, 202, context.text);
    const failedJob = await pollJob(server, context.json.job_id);
    assert.equal(failedJob.status, 'failed');
    const failed = await endedEntry('audit-context-1');
    assert.equal(failed.actor_name, 'alice');
    assert.equal(failed.actor_role, 'admin');
    assert.equal(failed.action, 'ingest.context');
    assert.equal(failed.status, 'failed');
    assert.equal(failed.error_code, failedJob.error.code);
  });

  it('records actions answered at once with their outcome, and not what changes nothing', async () => {
    const missing = await api(server, 'DELETE', '/api/v2/devdata/snapshots/SNAP-2026-0099', { token: ADMIN, headers: { 'x-request-id': 'audit-delete-1' } });
    assert.equal(missing.status, 404);
    const deleted = await endedEntry('audit-delete-1');
    assert.equal(deleted.action, 'snapshot.delete');
    assert.equal(deleted.target, 'SNAP-2026-0099');
    assert.equal(deleted.status, 'failed');
    assert.equal(deleted.error_code, 'NOT_FOUND');

    const preview = await api(server, 'POST', '/api/v2/devdata/snapshots/prune', { token: ADMIN, headers: { 'x-request-id': 'audit-prune-preview' } });
    assert.equal(preview.status, 200, preview.text);
    const applied = await api(server, 'POST', '/api/v2/devdata/snapshots/prune', { token: ADMIN, body: { dry_run: false }, headers: { 'x-request-id': 'audit-prune-apply' } });
    assert.equal(applied.status, 200, applied.text);
    const pruned = await endedEntry('audit-prune-apply');
    assert.equal(pruned.action, 'snapshot.prune');
    assert.deepEqual(pruned.params, { dry_run: false });
    assert.equal(pruned.status, 'succeeded');
    assert.equal((await auditEntries('?limit=1000')).filter((e) => e.request_id === 'audit-prune-preview').length, 0, 'a preview is not recorded');
    assert.equal((await auditEntries('?limit=1000')).filter((e) => e.action === 'snapshot.list').length, 0);
  });

  it('answers the trail to admins only, newest first, by page and since a time; in the OpenAPI document', async () => {
    assert.equal((await api(server, 'GET', '/api/v2/audit', { token: OPERATOR })).status, 403);
    assert.equal((await api(server, 'GET', '/api/v2/audit', { token: null })).status, 401);
    const all = await auditEntries('?limit=1000');
    assert.ok(all.length >= 3);
    const ids = all.map((e) => Number(e.audit_id));
    assert.deepEqual(ids, [...ids].sort((a, b) => b - a), 'newest first');
    const first = await api(server, 'GET', '/api/v2/audit?limit=2', { token: ADMIN });
    assert.equal(first.json.entries.length, 2);
    assert.ok(first.json.next_cursor);
    const second = await api(server, 'GET', `/api/v2/audit?limit=2&cursor=${first.json.next_cursor}`, { token: ADMIN });
    assert.deepEqual(second.json.entries.map((e: any) => e.audit_id), all.slice(2, 4).map((e) => e.audit_id));
    assert.deepEqual(await auditEntries(`?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), []);
    assert.equal((await auditEntries('?since=1h')).length, Math.min(all.length, 50));
    const bad = await api(server, 'GET', '/api/v2/audit?since=yesterday', { token: ADMIN });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'INVALID_INPUT');
    assert.match(bad.json.error.message, /since "yesterday": expected an ISO 8601 time/);
    const doc = await api(server, 'GET', '/openapi.json', { token: READER });
    assert.ok(doc.json.paths['/api/v2/audit']?.get, 'the route is documented');
  });

  it('records CLI actions as cli and the OS user, and nfr audit lists them', async () => {
    const created = await nfrJson(['snapshot', 'create', '--name', 'from-cli'], env);
    assert.equal(created.code, 0, created.stderr);
    const failed = await nfrJson(['snapshot', 'delete', '--id', 'SNAP-2026-0098', '--yes'], env);
    assert.equal(failed.code, 4);
    const listed = await nfrJson(['audit', '--limit', '5'], env);
    assert.equal(listed.code, 0, listed.stderr);
    const [del, create] = listed.body.entries;
    assert.equal(create.actor_kind, 'cli');
    assert.equal(create.actor_name, userInfo().username);
    assert.equal(create.actor_role, null);
    assert.equal(create.action, 'snapshot.create');
    assert.equal(create.params.name, 'from-cli');
    assert.equal(create.status, 'succeeded');
    assert.equal(del.action, 'snapshot.delete');
    assert.equal(del.target, 'SNAP-2026-0098');
    assert.equal(del.status, 'failed');
    assert.equal(del.error_code, 'NOT_FOUND');
    const text = await nfr(['audit', '--since', '1d'], env);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`cli:${userInfo().username}\\s+snapshot\\.create`));
    assert.match(text.stdout, /alice \(admin\)\s+ingest\.context/);
    const bad = await nfrJson(['audit', '--since', 'last week'], env);
    assert.equal(bad.code, 12);
    // A read: a database nfr never touched gets no control database from it.
    const fresh = await cluster.createDatabase('auditfresh');
    const none = await nfrJson(['audit'], { ...env, DATABASE_URL: fresh.url });
    assert.equal(none.code, 0, none.stderr);
    assert.deepEqual(none.body, { entries: [], next_cursor: null });
    assert.ok(!(await cluster.databases()).includes(`${fresh.name}_nfr`));
  });

  it('a create whose control database the configuration refuses stops before it runs, as when its start was recorded first', async () => {
    // The control database may not be the live one. A create records its start alongside its first
    // steps (RECORDED_ALONGSIDE), but checks the configuration first: the same CONFIG error as
    // before, and nothing listed.
    const live = decodeURIComponent(new URL(String(env.DATABASE_URL)).pathname.slice(1));
    const before = await nfrJson(['snapshot', 'list'], env);
    assert.equal(before.code, 0, before.stderr);
    const refused = await nfrJson(['snapshot', 'create', '--name', 'refused'], { ...env, NFR_CONTROL_DATABASE: live });
    assert.equal(refused.code, 2, refused.stderr);
    assert.equal(refused.body.error.code, 'CONFIG');
    assert.match(refused.body.error.message, /is the live database/);
    const after = await nfrJson(['snapshot', 'list'], env);
    assert.deepEqual(
      after.body.snapshots.map((x: { id: string }) => x.id),
      before.body.snapshots.map((x: { id: string }) => x.id),
      'the refused create listed no snapshot',
    );
    assert.ok(!after.body.snapshots.some((x: { name: string }) => x.name === 'refused'));
  });

  it('knows which commands are audited in one list (main.ts loads the table only for them)', () => {
    assert.deepEqual([...AUDITED_PATHS].sort(), Object.keys(AUDITED_COMMANDS).sort());
  });

  it('never records a token, anywhere in the table', async () => {
    // One more try with a token in the body's place and in the query.
    await api(server, 'POST', `/api/v2/pipelines/index/sync?token=${READER}`, { token: OPERATOR, body: {} });
    const rows = await query<{ row: string }>(controlUrl, 'select t::text as row from nfr_audit t');
    assert.ok(rows.length >= 5);
    for (const token of [ADMIN, OPERATOR, READER]) assert.ok(!rows.some((r) => r.row.includes(token)), `a token is in nfr_audit: ${token.slice(0, 6)}…`);
  });
});
