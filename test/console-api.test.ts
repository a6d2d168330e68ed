/**
 * The API routes the web console needs, and how `nfr serve` serves the console itself, against a
 * real server on a real cluster loaded with the NIST sample.
 */
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { nfr, nfrJson, REPO_ROOT, serveNfr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';
import { controlQuery, query } from './support/data.js';
import { api } from './support/api.js';

const ADMIN = 'admin-token-consoleapi-0123456789';
const OPERATOR = 'operator-token-consoleapi-0123456789';
const READER = 'reader-token-consoleapi-0123456789';

const cluster = fileCluster();
let env: Env;
let dbUrl: string;
let server: Awaited<ReturnType<typeof serveNfr>>;
let base: string;

const get = (pathname: string, token: string | null = READER) => api({ url: base }, 'GET', pathname, { token });

const post = (pathname: string, body: unknown, token = ADMIN) => api({ url: base }, 'POST', pathname, { token, body });

describe('console API and static files', () => {
  before(async () => {
    const db = await freshDatabase(cluster, 'consoleapi', { env: { API_TOKENS: `admin:${ADMIN},operator:${OPERATOR},reader:${READER}` } });
    dbUrl = db.url;
    env = db.env;
    const run = await nfrJson(['pipeline', 'run', '--sample'], env);
    assert.equal(run.code, 0, run.stderr);
    server = await serveNfr(env);
    base = server.base;
  });

  after(async () => {
    await server?.stop();
  });

  it('tells each token its role, with the server version and schema head', async () => {
    for (const [token, role] of [[READER, 'reader'], [OPERATOR, 'operator'], [ADMIN, 'admin']] as const) {
      const r = await get('/api/v2/auth/me', token);
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.role, role);
      assert.equal(r.json.schema_version, '0004_history-time-indexes');
    }
    assert.equal((await get('/api/v2/auth/me', null)).status, 401);
    assert.equal((await get('/api/v2/auth/me', 'not-a-token-0123456789')).status, 401);
  });

  it('pages through the upload history, newest first', async () => {
    const all = await get('/api/v2/pipelines/uploads');
    assert.equal(all.status, 200, all.text);
    const rows = await controlQuery<{ upload_id: string; kind: string }>(dbUrl, 'select upload_id, kind from nfr_upload order by created_at desc, upload_id desc');
    assert.equal(all.json.total, rows.length);
    assert.deepEqual(all.json.uploads.map((u: any) => u.upload_id), rows.map((r) => r.upload_id));
    const controls = all.json.uploads.find((u: any) => u.kind === 'controls');
    assert.equal(controls.status, 'completed');
    assert.equal(controls.rows_inserted, 370);
    assert.match(controls.original_filename, /\.csv$/);

    const second = await get('/api/v2/pipelines/uploads?limit=1&offset=1');
    assert.deepEqual(second.json.uploads.map((u: any) => u.upload_id), [rows[1]?.upload_id]);
    assert.equal(second.json.total, rows.length);
    const beyond = await get('/api/v2/pipelines/uploads?offset=50');
    assert.deepEqual([beyond.json.uploads.length, beyond.json.total], [0, rows.length]);
    for (const bad of ['limit=0', 'limit=500', 'limit=abc', 'offset=-1', 'page=2']) {
      const r = await get(`/api/v2/pipelines/uploads?${bad}`);
      assert.equal(r.status, 400, `${bad}: ${r.text}`);
      assert.equal(r.json.error.code, 'INVALID_INPUT');
    }
  });

  it('shows a control with its owners, themes, enrichment and history, as of any moment', async () => {
    const before = new Date().toISOString();
    const r = await get('/api/v2/controls/IA-2.1');
    assert.equal(r.status, 200, r.text);
    const c = r.json;
    assert.equal(c.control_id, 'IA-2.1');
    assert.equal(c.attributes.title, 'Multi-factor Authentication to Privileged Accounts');
    const [db] = await query(dbUrl, `select owning_function_id, status from src_controls_ver_control where control_id = 'IA-2.1' and tx_to is null`);
    assert.equal(c.owning_function?.id ?? null, db.owning_function_id);
    assert.equal(c.attributes.status, db.status);
    const themes = await query<{ id: string }>(dbUrl, `select risk_theme_id as id from src_controls_rel_risk_theme where control_id = 'IA-2.1' and tx_to is null order by 1`);
    assert.deepEqual(c.risk_themes.map((t: any) => t.id), themes.map((t) => t.id));
    assert.ok(c.enrichment.summary.length > 0);
    assert.ok(c.enrichment.keywords.length > 0);
    assert.ok(c.enrichment.taxonomy_mapping.length > 0);
    assert.equal(c.history.length, 1);
    assert.equal(c.history[0].tx_to, null);

    // A changed title opens a new version; as_of before the change answers with the old one.
    const csv = path.join(cluster.tempDir('consoleapi-csv'), 'ia.csv');
    await writeFile(csv, 'control_id,title\r\nIA-2.1,Phishing-resistant MFA for privileged accounts\r\n');
    const ingest = await nfr(['ingest', 'controls', csv, '--no-enrich'], env);
    assert.equal(ingest.code, 0, ingest.stderr);
    const now = await get('/api/v2/controls/IA-2.1');
    assert.equal(now.json.attributes.title, 'Phishing-resistant MFA for privileged accounts');
    assert.equal(now.json.history.length, 2);
    assert.ok(now.json.history[1].tx_to, 'the old version is closed');
    const then = await get(`/api/v2/controls/IA-2.1?as_of=${encodeURIComponent(before)}`);
    assert.equal(then.status, 200, then.text);
    assert.equal(then.json.attributes.title, 'Multi-factor Authentication to Privileged Accounts');
    assert.equal(then.json.as_of, before);

    const early = await get('/api/v2/controls/IA-2.1?as_of=2000-01-01T00:00:00Z');
    assert.equal(early.status, 404);
    assert.match(early.json.error.message, /as of 2000-01-01/);
    assert.equal((await get('/api/v2/controls/NO-SUCH-1')).json.error.code, 'NOT_FOUND');
    assert.equal((await get('/api/v2/controls/IA-2.1?as_of=yesterday')).status, 400);
    assert.equal((await get(`/api/v2/controls/${encodeURIComponent('bad id;drop')}`)).status, 400);
  });

  it('says what a restore would do without doing it, and refuses a schema it does not know', async () => {
    const created = await nfrJson(['snapshot', 'create', '--name', 'plan me'], env);
    assert.equal(created.code, 0, created.stderr);
    const id: string = created.body.id;
    const plan = await get(`/api/v2/devdata/snapshots/${id}/restore-plan`);
    assert.equal(plan.status, 200, plan.text);
    assert.deepEqual(plan.json.schema, {
      snapshot: '0004_history-time-indexes',
      code: '0004_history-time-indexes',
      relation: 'same',
      force_required: false,
      restorable: true,
      explanation: plan.json.schema.explanation,
    });
    assert.equal(plan.json.resync_offered, true);
    assert.equal(plan.json.kind, 'postgres');
    const manifest = (await get(`/api/v2/devdata/snapshots/${id}`)).json;
    assert.equal(plan.json.rows, manifest.tables.reduce((n: number, t: any) => n + t.rows, 0));

    // A database from before the first migration: restorable with force, as restore decides.
    const file = path.join(env.POSTGRES_BACKUP_PATH!, id, 'manifest.json');
    const m = JSON.parse(await readFile(file, 'utf8'));
    m.database.schema_version = null;
    delete m.schema_version;
    await writeFile(file, JSON.stringify(m));
    const unmigrated = await get(`/api/v2/devdata/snapshots/${id}/restore-plan`);
    assert.deepEqual([unmigrated.json.schema.relation, unmigrated.json.schema.force_required, unmigrated.json.schema.restorable], ['older', true, true]);

    // A snapshot from a newer nfr: not restorable, and the plan says why.
    m.database.schema_version = '0099_from-the-future';
    delete m.schema_version;
    await writeFile(file, JSON.stringify(m));
    const newer = await get(`/api/v2/devdata/snapshots/${id}/restore-plan`);
    assert.equal(newer.json.schema.relation, 'newer');
    assert.equal(newer.json.schema.restorable, false);
    assert.match(newer.json.schema.explanation, /does not know/);
    assert.equal((await post(`/api/v2/devdata/snapshots/${id}/restore`, {})).status, 409);

    assert.equal((await get('/api/v2/devdata/snapshots/SNAP-2026-9999/restore-plan')).status, 404);
    assert.equal((await get('/api/v2/devdata/snapshots/..%2Fx/restore-plan')).status, 400);
  });

  it('reports every file of a verify, and names the damaged one', async () => {
    const created = await nfrJson(['snapshot', 'create', '--name', 'verify me'], env);
    const id: string = created.body.id;
    const ok = await post(`/api/v2/devdata/snapshots/${id}/verify`, {}, READER);
    assert.equal(ok.status, 200);
    assert.equal(ok.json.files.length, ok.json.files_checked);
    assert.ok(ok.json.files.every((f: any) => f.ok === true && f.problem === null));
    const dat = (await readdir(path.join(env.POSTGRES_BACKUP_PATH!, id, 'db'))).find((f) => f.endsWith('.dat'))!;
    const victim = path.join(env.POSTGRES_BACKUP_PATH!, id, 'db', dat);
    const bytes = await readFile(victim);
    bytes[0] = (bytes[0] ?? 0) ^ 0xff;
    await writeFile(victim, bytes);
    const bad = await post(`/api/v2/devdata/snapshots/${id}/verify`, {}, READER);
    assert.equal(bad.json.ok, false);
    const failed = bad.json.files.filter((f: any) => !f.ok);
    assert.deepEqual(failed.map((f: any) => f.path), [`db/${dat}`]);
    assert.match(failed[0].problem, /SHA-256/);
  });

  it('serves the built console without a token, by exact file name, with security headers on everything', async () => {
    for (const view of ['/', '/overview', '/snapshots', '/snapshots/SNAP-2026-0001', '/pipelines', '/search', '/controls/AC-2']) {
      const r = await get(view, null);
      assert.equal(r.status, 200, view);
      assert.match(r.headers.get('content-type') ?? '', /^text\/html/);
      assert.match(r.text, /<div id="root"><\/div>/);
      assert.equal(r.headers.get('cache-control'), 'no-cache');
    }
    const html = (await get('/', null)).text;
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(script, 'index.html loads a bundled script');
    const js = await get(script, null);
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type') ?? '', /^text\/javascript/);
    assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    const built = await readFile(path.join(REPO_ROOT, 'web', 'dist', script.slice(1)), 'utf8');
    assert.equal(js.text, built);
    assert.doesNotMatch(built, /https?:\/\/(?!www\.w3\.org|reactjs\.org|react\.dev)[a-z]/i, 'the bundle calls out to another origin');

    // Nothing but the built files: no traversal, no other file of the package.
    for (const probe of ['/assets/../../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/package.json', '/web/dist/index.html', '/assets/nope.js']) {
      const r = await get(probe, null);
      assert.ok(r.status === 401 || r.status === 404, `${probe}: ${r.status}`);
      assert.doesNotMatch(r.text, /"name": "nfr-connect"/);
    }
    const apiAnswer = await get('/api/v2/devdata/snapshots');
    assert.equal(apiAnswer.headers.get('x-frame-options'), 'DENY');
    assert.match(apiAnswer.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    assert.equal(apiAnswer.headers.get('x-content-type-options'), 'nosniff');
  });
});
