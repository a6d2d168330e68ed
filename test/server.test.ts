/**
 * The HTTP service, run as users run it (`nfr serve` on a random port) against a real cluster:
 * the seed's polling flow, auth on every route, bad input, a restore under a read loop, and a
 * server killed mid-job.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { nfrJson, spawnNfr, testEnv, waitForExit, type Env } from './support/cli.js';
import pg from 'pg';
import { withPoolClient } from '../src/postgres/pool.js';
import { fileCluster } from './support/cluster.js';
import { controlQuery, fingerprint, mutate, query } from './support/data.js';
import { ADMIN, api, API_TOKENS, OPERATOR, pollJob as pollJobAt, READER, serve, type Server } from './support/api.js';
import { waitFor } from './support/wait.js';
import { seededDatabase } from './support/setup.js';

const cluster = fileCluster();

async function setupEnv(prefix: string, controls = 300, extra: Env = {}): Promise<Env> {
  return (await seededDatabase(cluster, prefix, { controls, env: { API_TOKENS, ...extra } })).env;
}

/**
 * Sends exactly these bytes, as curl does (`curl -X POST` sends neither Content-Length nor a
 * body; fetch always adds one), and reads the answer.
 */
async function rawHttp(server: Server, head: string[], body: Buffer | string = ''): Promise<{ status: number; json: any; text: string }> {
  const { hostname, port } = new URL(server.url);
  const socket = connect(Number(port), hostname);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write([...head, `Host: ${hostname}:${port}`, 'Connection: close', '', ''].join('\r\n'));
  // No half-close: Node's HTTP server drops a request whose client ends its side first.
  socket.write(body);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks).toString('utf8');
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0);
  if (!status) throw new Error(`no HTTP answer to ${head[0]}: ${JSON.stringify(raw.slice(0, 500))}`);
  const text = raw.slice(raw.indexOf('\r\n\r\n') + 4);
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, json, text };
}

/** The snapshot routes' own job URL, which the seed's polling flow uses. */
const pollJob = (server: Server, jobId: string, timeoutMs = 120_000, route = '/api/v2/devdata/snapshots/job/:id/status') => pollJobAt(server, jobId, timeoutMs, route);

describe('nfr serve', () => {
  // One server for the tests whose requests are all refused (auth, bad input, bad uploads): none
  // of them writes anything, so they need no database or server of their own.
  let refusing: Promise<{ env: Env; server: Server }> | undefined;
  const refusingServer = () =>
    (refusing ??= setupEnv('refusing', 10).then(async (env) => ({ env, server: await serve(env) })));
  after(async () => {
    await (await refusing)?.server.stop();
  });

  it('runs the seed polling flow: create → poll → restore → poll, catalog intact', async () => {
    const env = await setupEnv('flow');
    const server = await serve(env);
    try {
      const snapshotState = await fingerprint(env.DATABASE_URL!);
      const created = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { token: OPERATOR, body: { name: 'nightly', tags: ['pinned'] } });
      assert.equal(created.status, 202, created.text);
      assert.match(created.json.snapshot_id, /^SNAP-\d{4}-\d{4}$/);
      const job = await pollJob(server, created.json.job_id);
      assert.equal(job.status, 'completed', JSON.stringify(job.error));
      assert.equal(job.progress_percent, 100);
      assert.equal(job.progress, 100);
      assert.equal(job.step, job.current_step);
      assert.equal(job.step, 'completed');
      assert.equal(job.result.id, created.json.snapshot_id);

      const show = await api(server, 'GET', `/api/v2/devdata/snapshots/${created.json.snapshot_id}`, { token: READER });
      assert.equal(show.json.tables.find((t: { name: string }) => t.name === 'src_controls_ver_control').rows, 300);

      await mutate(env.DATABASE_URL!);
      const restore = await api(server, 'POST', `/api/v2/devdata/snapshots/${created.json.snapshot_id}/restore`, { body: { create_pre_restore_backup: true } });
      assert.equal(restore.status, 202, restore.text);
      const done = await pollJob(server, restore.json.job_id);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      assert.match(done.result.pre_restore_backup_id, /^SNAP-/);
      assert.deepEqual(await fingerprint(env.DATABASE_URL!), snapshotState);

      const list = await api(server, 'GET', '/api/v2/devdata/snapshots', { token: READER });
      assert.deepEqual(list.json.snapshots.map((s: { id: string }) => s.id), [created.json.snapshot_id, done.result.pre_restore_backup_id]);
      const running = await api(server, 'GET', '/api/v2/jobs?status=completed', { token: READER });
      assert.ok(running.json.jobs.some((j: { job_id: string }) => j.job_id === restore.json.job_id), 'the restore job is still listed after the restore');

      const metrics = await api(server, 'GET', '/metrics', { token: READER });
      assert.match(metrics.text, /^nfr_snapshots 2$/m);
      assert.match(metrics.text, /nfr_jobs\{kind="snapshot.restore",status="completed"\} 1/);
    } finally {
      await server.stop();
    }
  });

  it('requires a valid token on every route but /health, and the right role', async () => {
    const { env, server } = await refusingServer();
    assert.equal((await api(server, 'GET', '/health', { token: null })).status, 200);
    const doc = await api(server, 'GET', '/api/v2/openapi.json', { token: READER });
    assert.equal(doc.status, 200);
    const routes = Object.entries(doc.json.paths as Record<string, Record<string, unknown>>).flatMap(([p, methods]) =>
      Object.keys(methods).map((m) => ({ method: m.toUpperCase(), path: p.replace(/\{id\}/g, 'SNAP-2026-0001').replace(/\{job_id\}/g, '00000000-0000-4000-8000-000000000000') })),
    );
    assert.ok(routes.length >= 12, `documented routes: ${routes.length}`);
    // Also at the root, where clients look first: the same document, the same token rule.
    const rootDoc = await api(server, 'GET', '/openapi.json', { token: READER });
    assert.equal(rootDoc.status, 200, rootDoc.text);
    assert.match(rootDoc.json.openapi, /^3\./);
    assert.deepEqual(Object.keys(rootDoc.json.paths).sort(), Object.keys(doc.json.paths).sort());
    for (const route of [...routes, { method: 'GET', path: '/api/v2/openapi.json' }, { method: 'GET', path: '/openapi.json' }]) {
      if (route.path === '/health') continue;
      for (const token of [null, 'wrong-token-0123456789abcdef']) {
        const r = await api(server, route.method, route.path, { token, body: route.method === 'GET' || route.method === 'DELETE' ? undefined : {} });
        assert.equal(r.status, 401, `${route.method} ${route.path} with ${token ?? 'no token'}: ${r.status} ${r.text}`);
        assert.equal(r.json.error.code, 'UNAUTHORIZED');
        assert.equal(r.headers.get('www-authenticate'), 'Bearer');
      }
    }
    const forbidden = await api(server, 'POST', '/api/v2/devdata/snapshots/SNAP-2026-0001/restore', { token: READER, body: {} });
    assert.equal(forbidden.status, 403);
    assert.equal((await api(server, 'DELETE', '/api/v2/devdata/snapshots/SNAP-2026-0001', { token: OPERATOR })).status, 403);
    assert.equal((await api(server, 'POST', '/api/v2/devdata/snapshots/prune', { token: OPERATOR, body: { dry_run: true } })).status, 403);
    assert.equal((await api(server, 'POST', '/api/v2/devdata/snapshots/create', { token: READER, body: { name: 'x' } })).status, 403);
    // Checking checksums only reads (404: no such snapshot, past the role check); a deep verify restores.
    assert.equal((await api(server, 'POST', '/api/v2/devdata/snapshots/SNAP-2026-0001/verify', { token: READER, body: {} })).status, 404);
    assert.equal((await api(server, 'POST', '/api/v2/devdata/snapshots/SNAP-2026-0001/verify', { token: READER, body: { deep: true } })).status, 403);
    assert.equal((await api(server, 'POST', '/api/v2/devdata/snapshots/SNAP-2026-0001/verify', { token: OPERATOR, body: { deep: true } })).status, 404);

    // Without API_TOKENS the server still starts (with a warning): /health answers, the rest is 401.
    const open = await serve({ ...env, API_TOKENS: '' });
    try {
      assert.equal((await api(open, 'GET', '/health', { token: null })).status, 200);
      const refused = await api(open, 'GET', '/api/v2/devdata/snapshots', { token: ADMIN });
      assert.equal(refused.status, 401);
      assert.match(refused.json.error.message, /API_TOKENS is empty/);
    } finally {
      await open.stop();
    }
  });

  it('answers bad input with a 4xx JSON error and writes nothing', async () => {
    const { server } = await refusingServer();
    const cases: [string, string, unknown, Record<string, string>?][] = [
      ['POST', '/api/v2/devdata/snapshots/create', '{"name": ', undefined],
      ['POST', '/api/v2/devdata/snapshots/create', { name: 'x', unknown_field: 1 }],
      ['POST', '/api/v2/devdata/snapshots/create', { name: '' }],
      ['POST', '/api/v2/devdata/snapshots/create', { name: 'x', tags: ['bad tag!'] }],
      ['POST', '/api/v2/devdata/snapshots/create', 'name=x', { 'content-type': 'application/x-www-form-urlencoded' }],
      ['GET', '/api/v2/devdata/snapshots/..%2F..%2Fetc%2Fpasswd', undefined],
      ['GET', '/api/v2/devdata/snapshots/SNAP-1', undefined],
      ['POST', '/api/v2/devdata/snapshots/SNAP-2026-0001/restore', { force: 'yes' }],
      ['GET', '/api/v2/devdata/snapshots/SNAP-2026-9999', undefined],
      ['GET', '/api/v2/jobs/not-a-uuid', undefined],
      ['GET', '/api/v2/jobs?status=exploded', undefined],
      ['GET', '/api/v2/nothing-here', undefined],
    ];
    for (const [method, path, body, headers] of cases) {
      const r = await api(server, method, path, { body, headers });
      assert.ok(r.status >= 400 && r.status < 500, `${method} ${path}: ${r.status} ${r.text}`);
      assert.equal(typeof r.json?.error?.code, 'string', `${method} ${path}: ${r.text}`);
      assert.equal(typeof r.json?.error?.message, 'string');
    }
    const list = await api(server, 'GET', '/api/v2/devdata/snapshots', { token: READER });
    assert.deepEqual(list.json.snapshots, [], 'nothing was created');
  });

  it('reads a missing or empty body as {} on POSTs whose fields are all optional, and refuses malformed JSON', async () => {
    const env = await setupEnv('nobody', 20);
    const server = await serve(env);
    try {
      const created = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'base' } });
      assert.equal((await pollJob(server, created.json.job_id)).status, 'completed');
      const id = created.json.snapshot_id as string;
      const auth = `Authorization: Bearer ${ADMIN}`;

      // curl -X POST: no Content-Length, no Content-Type, no body.
      const verify = await rawHttp(server, [`POST /api/v2/devdata/snapshots/${id}/verify HTTP/1.1`, auth]);
      assert.equal(verify.status, 200, verify.text);
      assert.equal(verify.json.ok, true);
      assert.ok(verify.json.files_checked > 0);
      // requests.post(url) / fetch without a body: Content-Length: 0.
      // A prune without a body is a dry run: nothing destructive happens by default.
      const prune = await api(server, 'POST', '/api/v2/devdata/snapshots/prune');
      assert.equal(prune.status, 200, prune.text);
      assert.equal(prune.json.dry_run, true);
      assert.deepEqual(prune.json.deleted, []);
      // Content-Type: application/json with an empty body, and `curl -d ''` (form-urlencoded, 0 bytes).
      const emptyJson = await rawHttp(server, [`POST /api/v2/devdata/snapshots/${id}/verify HTTP/1.1`, auth, 'Content-Type: application/json', 'Content-Length: 0']);
      assert.equal(emptyJson.status, 200, emptyJson.text);
      const emptyForm = await rawHttp(server, [`POST /api/v2/devdata/snapshots/${id}/verify HTTP/1.1`, auth, 'Content-Type: application/x-www-form-urlencoded', 'Content-Length: 0']);
      assert.equal(emptyForm.status, 200, emptyForm.text);
      // A body without a Content-Type is JSON; so is an empty chunked one (Node's bodiless POST).
      const untyped = await rawHttp(server, [`POST /api/v2/devdata/snapshots/prune HTTP/1.1`, auth, 'Content-Length: 16'], '{"dry_run":true}');
      assert.equal(untyped.status, 200, untyped.text);
      assert.equal(untyped.json.dry_run, true);
      const chunked = await rawHttp(server, [`POST /api/v2/devdata/snapshots/prune HTTP/1.1`, auth, 'Transfer-Encoding: chunked'], '0\r\n\r\n');
      assert.equal(chunked.status, 200, chunked.text);

      const sync = await rawHttp(server, ['POST /api/v2/pipelines/index/sync HTTP/1.1', auth]);
      assert.equal(sync.status, 202, sync.text);
      const synced = await pollJob(server, sync.json.job_id, 120_000, '/api/v2/pipelines/jobs/:id');
      assert.equal(synced.status, 'completed', JSON.stringify(synced.error));
      assert.equal(synced.result.controls, 20);
      assert.equal(synced.params.force, false);
      const context = await rawHttp(server, ['POST /api/v2/pipelines/context/ingest HTTP/1.1', auth, 'Content-Type: application/json', 'Content-Length: 0']);
      assert.equal(context.status, 202, context.text);
      assert.equal((await pollJob(server, context.json.job_id, 120_000, '/api/v2/pipelines/jobs/:id')).params.dry_run, undefined);

      await mutate(env.DATABASE_URL!);
      const restore = await rawHttp(server, [`POST /api/v2/devdata/snapshots/${id}/restore HTTP/1.1`, auth]);
      assert.equal(restore.status, 202, restore.text);
      const restored = await pollJob(server, restore.json.job_id);
      assert.equal(restored.status, 'completed', JSON.stringify(restored.error));
      assert.equal(restored.params.skip_backup, false, 'no body: the defaults, so a pre-restore backup is kept');
      assert.match(restored.result.pre_restore_backup_id, /^SNAP-/);

      // What is still wrong stays a 400 that says what: malformed JSON, a missing required field.
      const cutOff = [`/api/v2/devdata/snapshots/${id}/verify`, '{"deep": tru', /not valid JSON: Unexpected end of JSON input/] as const;
      const trailingComma = ['/api/v2/devdata/snapshots/prune', '{"dry_run": true,}', /not valid JSON: .*position 17/] as const;
      for (const [path, body, reason] of [cutOff, trailingComma]) {
        const bad = await api(server, 'POST', path, { body });
        assert.equal(bad.status, 400, bad.text);
        assert.equal(bad.json.error.code, 'INVALID_INPUT');
        assert.match(bad.json.error.message, reason, bad.text);
      }
      const noName = await rawHttp(server, ['POST /api/v2/devdata/snapshots/create HTTP/1.1', auth]);
      assert.equal(noName.status, 400, noName.text);
      assert.match(noName.json.error.message, /name/);
      const list = await api(server, 'GET', '/api/v2/devdata/snapshots', { token: READER });
      assert.equal(list.json.snapshots.length, 2, 'the base snapshot and the pre-restore backup; nothing else was created');
    } finally {
      await server.stop();
    }
  });

  it('refuses malformed multipart bodies and files that are not a controls CSV with a 4xx, and stores nothing', async () => {
    // The last of the refusing server's tests: its final upload is the first thing it accepts.
    const { env, server } = await refusingServer();
    const upload = '/api/v2/pipelines/controls/ingest';
    const auth = `Authorization: Bearer ${OPERATOR}`;
    const part = (content: string) =>
      `--XYZ\r\nContent-Disposition: form-data; name="file"; filename="controls.csv"\r\nContent-Type: text/csv\r\n\r\n${content}`;
    const malformed: [string, string, string, RegExp][] = [
      ['garbage with a valid boundary', 'multipart/form-data; boundary=XYZ', 'this is not a multipart body at all', /malformed multipart|no file/],
      ['a body cut off inside the file', 'multipart/form-data; boundary=XYZ', part('control_id,title\nAC-1,Access control policy\n'), /malformed multipart/],
      ['a body cut off inside the part headers', 'multipart/form-data; boundary=XYZ', '--XYZ\r\nContent-Disposition: form-da', /malformed multipart/],
      ['no boundary', 'multipart/form-data', part('control_id,title\nAC-1,x\n--XYZ--\r\n'), /no boundary parameter/],
    ];
    for (const [what, type, body, reason] of malformed) {
      const r = await rawHttp(server, [`POST ${upload} HTTP/1.1`, auth, `Content-Type: ${type}`, `Content-Length: ${Buffer.byteLength(body)}`], body);
      assert.equal(r.status, 400, `${what}: ${r.status} ${r.text}`);
      assert.equal(r.json.error.code, 'INVALID_INPUT', what);
      assert.match(r.json.error.message, reason, what);
    }

    const send = async (name: string, bytes: Buffer) => {
      const form = new FormData();
      form.append('file', new Blob([bytes], { type: 'text/csv' }), name);
      const res = await fetch(server.url + upload, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` }, body: form });
      return { status: res.status, json: (await res.json()) as any };
    };
    const wrong: [string, Buffer, number, RegExp][] = [
      ['empty.csv', Buffer.alloc(0), 400, /empty\.csv is empty/],
      ['image.csv', Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex'), 415, /image\.csv is not a text CSV: byte 9 is a NUL byte/],
      ['utf16.csv', Buffer.from('\ufeffcontrol_id,title\nAC-1,x\n', 'utf16le'), 415, /NUL byte/],
      ['other.csv', Buffer.from('name,value\nx,1\n'), 400, /other\.csv line 1: bad header: unknown column "name".*required column "control_id" is missing/],
      ['quote.csv', Buffer.from('"control_id,title\nAC-1,x\n'), 400, /quote\.csv line 1: no complete header record/],
      ['stray.csv', Buffer.from('control_id,"title"x\nAC-1,x\n'), 400, /stray\.csv line 1: malformed CSV header/],
    ];
    for (const [name, bytes, status, reason] of wrong) {
      const r = await send(name, bytes);
      assert.equal(r.status, status, `${name}: ${JSON.stringify(r.json)}`);
      assert.match(r.json.error.message, reason, name);
      assert.match(r.json.error.message, /nothing was stored/, name);
    }

    // Nothing of any of them was stored, recorded or started.
    const data = path.join(env.NFR_HOME!, 'data');
    assert.deepEqual(await readdir(path.join(data, 'controls')).catch(() => []), []);
    assert.deepEqual(await readdir(path.join(data, '.incoming')), []);
    assert.deepEqual(await controlQuery(env.DATABASE_URL!, 'select upload_id from nfr_upload'), []);
    assert.deepEqual((await api(server, 'GET', '/api/v2/jobs', { token: READER })).json.jobs, []);

    // A header in another order, with a BOM and CRLF, passes the check (its rows are the job's business).
    const ok = await send('reordered.csv', Buffer.from('\ufefftitle,CONTROL_ID\r\nAccess control policy,AC-1\r\n'));
    assert.equal(ok.status, 202, JSON.stringify(ok.json));
    assert.match(ok.json.upload_id, /^UPL-/);
  });

  it('shows counts and the per-row errors on completed and failed ingestion jobs', async () => {
    const env = await setupEnv('jobcounts', 10);
    const server = await serve(env);
    try {
      const csv = [
        'control_id,title,owning_function_id,frequency',
        'CTRL-000001,Control 1 retitled,F-0002,daily',
        'NEW-1,A new control,F-0001,weekly',
        'NEW-2,Owned by nobody,F-9999,weekly',
        'NEW-3,Runs hourly,F-0001,hourly',
        '',
      ].join('\n');
      const upload = async (query: string) => {
        const form = new FormData();
        form.append('file', new Blob([csv], { type: 'text/csv' }), 'mixed.csv');
        const res = await fetch(`${server.url}/api/v2/pipelines/controls/ingest${query}`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` }, body: form });
        const body = (await res.json()) as any;
        assert.equal(res.status, 202, JSON.stringify(body));
        return body.job_id as string;
      };
      const rowErrors = [
        { line: 4, field: 'owning_function_id', message: /F-9999/ },
        { line: 5, field: 'frequency', message: /"hourly" is not one of/ },
      ];
      const assertRowErrors = (errors: { line: number; field: string; message: string }[]) => {
        assert.equal(errors.length, rowErrors.length, JSON.stringify(errors));
        rowErrors.forEach((want, i) => {
          assert.equal(errors[i]?.line, want.line, JSON.stringify(errors[i]));
          assert.equal(errors[i]?.field, want.field);
          assert.match(errors[i]?.message ?? '', want.message);
        });
      };

      // Rejected as a whole: failed, with what was read and every problem by line and field.
      const rejectedId = await upload('');
      const rejected = await pollJob(server, rejectedId, 120_000, '/api/v2/pipelines/jobs/:id');
      assert.equal(rejected.status, 'failed');
      assert.equal(rejected.error.code, 'INVALID_INPUT');
      assert.deepEqual(rejected.counts, { rows_read: 4, rows_valid: 2, rows_rejected: 2, error_count: 2 });
      assertRowErrors(rejected.errors);
      assert.deepEqual(await query(env.DATABASE_URL!, "select control_id from src_controls_ref_control where control_id like 'NEW-%'"), []);

      // With skip_invalid: completed, the versions it wrote, and the rows it left out.
      const skippedId = await upload('?skip_invalid=true');
      const skipped = await pollJob(server, skippedId, 120_000, '/api/v2/pipelines/jobs/:id');
      assert.equal(skipped.status, 'completed', JSON.stringify(skipped.error));
      assert.deepEqual(skipped.counts, { rows_read: 4, rows_valid: 2, rows_rejected: 2, error_count: 2, inserted: 1, updated: 1, unchanged: 0, closed: 0 });
      assertRowErrors(skipped.errors);
      assert.equal(skipped.progress_percent, 100);
      assert.equal(skipped.result.controls.inserted, 1, 'the result is still there too');
      const generic = await api(server, 'GET', `/api/v2/jobs/${skippedId}`, { token: READER });
      assert.deepEqual(generic.json.counts, skipped.counts);
      assert.deepEqual(generic.json.errors, skipped.errors);
      assert.deepEqual(
        (await query(env.DATABASE_URL!, "select control_id, title from src_controls_ver_control where tx_to is null and control_id in ('CTRL-000001', 'NEW-1') order by 1")).map((r) => r.title),
        ['Control 1 retitled', 'A new control'],
      );

      // A failure with no rows to blame: the reason is the one entry; nothing was counted.
      const context = await api(server, 'POST', '/api/v2/pipelines/context/ingest', { token: OPERATOR });
      const failed = await pollJob(server, context.json.job_id, 120_000, '/api/v2/pipelines/jobs/:id');
      assert.equal(failed.status, 'failed');
      assert.equal(failed.counts, null);
      assert.deepEqual(failed.errors, [{ line: null, field: null, message: failed.error.message }]);
      assert.match(failed.error.message, /context providers directory .* does not exist/);
    } finally {
      await server.stop();
    }
  });

  it('reports the vector index in /health without letting it decide liveness, and within a bounded time', async () => {
    const env = await setupEnv('health', 10);
    const server = await serve(env);
    try {
      const health = () => api(server, 'GET', '/health', { token: null });
      const absent = await health();
      assert.equal(absent.status, 200, absent.text);
      assert.equal(absent.json.status, 'ok');
      assert.deepEqual(absent.json.database, { status: 'ok' });
      assert.deepEqual(absent.json.index, { backend: 'embedded', status: 'absent', points: 0, in_sync: false, message: 'no vector index yet: build it with `nfr index` or POST /api/v2/pipelines/index/sync' });

      const sync = await api(server, 'POST', '/api/v2/pipelines/index/sync', { token: OPERATOR });
      const synced = await pollJob(server, sync.json.job_id, 120_000, '/api/v2/pipelines/jobs/:id');
      assert.equal(synced.status, 'completed', JSON.stringify(synced.error));
      assert.equal(synced.counts.upserted, 10);
      const ok = await health();
      assert.equal(ok.status, 200);
      assert.deepEqual({ ...ok.json.index, model: typeof ok.json.index.model }, { backend: 'embedded', status: 'ok', points: 10, model: 'string', in_sync: true });

      await query(env.DATABASE_URL!, "update src_controls_ver_control set tx_to = now() where control_id = 'CTRL-000001'");
      // The server re-reads the index's state at most once a second: wait for it to notice.
      const stale = await waitFor(async () => {
        const r = await health();
        return r.json.index.in_sync === false && r;
      }, { what: 'health to see the changed control' });
      assert.equal(stale.json.index.status, 'ok');
      assert.equal(stale.json.index.in_sync, false, 'a control changed since the sync');
    } finally {
      await server.stop();
    }

    // Qdrant that refuses connections, and Qdrant that accepts them and never answers: the
    // index is in error with the reason, /health still answers 200 for the database, in time.
    const silent = createServer((socket) => sockets.add(socket));
    const sockets = new Set<Socket>();
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    try {
      const cases = [
        { url: `http://127.0.0.1:${closedPort}`, reason: /cannot reach Qdrant at http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/ },
        { url: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`, reason: /did not answer within 2000 ms/ },
      ];
      for (const { url, reason } of cases) {
        const qdrantServer = await serve({ ...env, QDRANT_URL: url });
        try {
          const started = Date.now();
          const r = await api(qdrantServer, 'GET', '/health', { token: null });
          const ms = Date.now() - started;
          assert.equal(r.status, 200, r.text);
          assert.equal(r.json.status, 'ok');
          assert.equal(r.json.database.status, 'ok');
          assert.equal(r.json.index.backend, 'qdrant');
          assert.equal(r.json.index.status, 'error');
          assert.match(r.json.index.message, reason);
          assert.ok(ms < 4000, `/health took ${ms} ms`);
        } finally {
          await qdrantServer.stop();
        }
      }
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('keeps serving during a restore: only 503s while swapping, and reads after it see the restored data', async () => {
    const env = await setupEnv('live', 2000);
    const server = await serve(env);
    try {
      const created = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'before' } });
      assert.equal((await pollJob(server, created.json.job_id)).status, 'completed');
      await query(env.DATABASE_URL!, 'delete from src_controls_rel_risk_theme');
      await query(env.DATABASE_URL!, "update src_controls_ver_control set tx_to = now() where control_id > 'CTRL-001000'");
      assert.equal((await api(server, 'GET', '/api/v2/pipelines/status', { token: READER })).json.current.controls, 1000);

      const statuses = new Map<number, number>();
      let stop = false;
      let afterSwap: number[] = [];
      let swapped = false;
      const loop = (async () => {
        while (!stop) {
          const r = await api(server, 'GET', '/api/v2/pipelines/status', { token: READER });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 503) assert.ok(r.headers.get('retry-after'), '503 carries Retry-After');
          if (swapped && r.status === 200) afterSwap.push(r.json.current.controls);
        }
      })();
      const restore = await api(server, 'POST', `/api/v2/devdata/snapshots/${created.json.snapshot_id}/restore`, { body: { skip_backup: true } });
      const done = await pollJob(server, restore.json.job_id);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      swapped = true;
      afterSwap = [];
      await waitFor(() => afterSwap.length >= 5, { what: 'reads answered after the swap' });
      stop = true;
      await loop;
      const bad = [...statuses.keys()].filter((s) => s !== 200 && s !== 503);
      assert.deepEqual(bad, [], `statuses seen: ${JSON.stringify([...statuses])}`);
      assert.ok((statuses.get(200) ?? 0) > 10, 'the loop kept being served');
      assert.ok(afterSwap.length > 0 && afterSwap.every((n) => n === 2000), `reads after the swap: ${afterSwap.slice(0, 5)}`);
    } finally {
      await server.stop();
    }
  });

  it('gives a fresh database its schema at start, and prints where it listens as JSON with --json', async () => {
    const db = await cluster.createDatabase('freshserve');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('freshserve-backups'), NFR_HOME: cluster.tempDir('freshserve-home'), API_TOKENS: `reader:${READER}` });
    const child = spawnNfr(['serve', '--port', '0', '--json'], env);
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(out.split('\n')[0]!);
        });
        child.on('exit', (code) => reject(new Error(`nfr serve exited ${code}`)));
      });
      const started = JSON.parse(line);
      assert.match(started.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(started.migrated, ['0001_initial-schema', '0002_drop-record-hash', '0003_uploads-in-control-database', '0004_history-time-indexes']);
      assert.deepEqual(started.warnings, []);
      const server = { url: started.url } as Server;
      const status = await api(server, 'GET', '/api/v2/pipelines/status', { token: READER });
      assert.equal(status.status, 200, status.text);
      assert.equal(status.json.current.controls, 0);
    } finally {
      child.kill('SIGTERM');
      await waitForExit(child);
    }
  });

  it('refuses a bad or busy port with a configuration error (exit 2), not an internal one', async () => {
    const db = await cluster.createDatabase('port');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('port-backups'), NFR_HOME: cluster.tempDir('port-home') });
    const bad = await nfrJson(['serve', '--port', '70000'], env);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.body.error.message, /--port 70000: expected a port number from 0 to 65535/);
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    try {
      const port = (busy.address() as AddressInfo).port;
      const taken = await nfrJson(['serve', '--port', String(port)], env);
      assert.equal(taken.code, 2, taken.stderr);
      assert.equal(taken.body.error.code, 'CONFIG');
      assert.match(taken.body.error.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use`));
    } finally {
      busy.close();
    }
  });

  it('survives a session ended between two queries of a request, and retries the read on a fresh session', async () => {
    const db = await cluster.createDatabase('ended');
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    pool.on('error', () => {});
    try {
      let attempts = 0;
      const pids: number[] = [];
      const result = await withPoolClient(pool, async (client) => {
        attempts += 1;
        const pid = (await client.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]!.pid;
        pids.push(pid);
        if (attempts === 1) {
          // What a restore's swap does to every session of the live database, here while the
          // request is between its queries: no query is active to receive the error.
          await query(db.url, 'select pg_terminate_backend($1)', [pid]);
          await waitFor(async () => (await query(db.url, 'select 1 from pg_stat_activity where pid = $1', [pid])).length === 0, { what: `backend ${pid} to end` });
        }
        return (await client.query<{ n: number }>('select 42 as n')).rows[0]!.n;
      });
      assert.equal(result, 42);
      assert.equal(attempts, 2, 'the read ran again on a fresh session');
      assert.notEqual(pids[0], pids[1]);
      assert.equal(pool.totalCount, 1, 'the ended client was destroyed, not pooled');
    } finally {
      await pool.end();
    }
  });

  it('on SIGTERM fails a job that outlives the grace period, and exits', async () => {
    const env = await setupEnv('grace', 50);
    const server = await serve({ ...env, NFR_FAULT_POINT: 'dumped', NFR_SHUTDOWN_GRACE_SECONDS: '1' });
    const created = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'stuck' } });
    assert.equal(created.status, 202, created.text);
    await server.waitForStderr(/nfr-fault-point: dumped/);
    const started = Date.now();
    server.child.kill('SIGTERM');
    assert.equal(await waitForExit(server.child), 0);
    assert.ok(Date.now() - started < 10_000, `exited after ${Date.now() - started} ms`);
    const next = await serve(env);
    try {
      const job = await pollJob(next, created.json.job_id);
      assert.equal(job.status, 'failed');
      assert.equal(job.error.code, 'INTERRUPTED');
      assert.match(job.error.message, /did not finish within the 1 s grace period/);
      // The next operation cleans up after it and works.
      const again = await api(next, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'after' } });
      assert.equal((await pollJob(next, again.json.job_id)).status, 'completed');
    } finally {
      await next.stop();
    }
  });

  it('marks a job failed when the server is killed while running it, as soon as the next server starts on the same machine', async () => {
    const env = await setupEnv('killed', 50);
    const first = await serve({ ...env, NFR_FAULT_POINT: 'restoring' });
    let snapshotId: string;
    let jobId: string;
    try {
      const created = await api(first, 'POST', '/api/v2/devdata/snapshots/create', { body: { name: 'x' } });
      assert.equal((await pollJob(first, created.json.job_id)).status, 'completed');
      snapshotId = created.json.snapshot_id;
      const restore = await api(first, 'POST', `/api/v2/devdata/snapshots/${snapshotId}/restore`, { body: { skip_backup: true } });
      jobId = restore.json.job_id;
      await first.waitForStderr(/nfr-fault-point: restoring/);
      const running = await api(first, 'GET', '/api/v2/jobs?status=running', { token: READER });
      assert.deepEqual(running.json.jobs.map((j: { job_id: string }) => j.job_id), [jobId]);
      // A snapshot under restore is never deleted: the request is refused at once, not queued.
      const started = Date.now();
      const del = await api(first, 'DELETE', `/api/v2/devdata/snapshots/${snapshotId}`);
      assert.equal(del.status, 409, del.text);
      assert.equal(del.json.error.code, 'LOCKED');
      assert.match(del.json.error.message, /restore of SNAP-/);
      assert.ok(Date.now() - started < 5000);
    } finally {
      first.child.kill('SIGKILL');
      await waitForExit(first.child);
    }
    const second = await serve(env);
    try {
      // Its predecessor's pid is gone from this machine: no need to wait for missed heartbeats.
      assert.match(second.stderr(), /\(1 interrupted job\(s\) marked failed\)/);
      const job = (await api(second, 'GET', `/api/v2/jobs/${jobId}`, { token: READER })).json;
      assert.equal(job.status, 'failed');
      assert.equal(job.error.code, 'INTERRUPTED');
      assert.match(job.error.message, /server .* stopped/);
      assert.match(job.error.message, /at step "restoring"/);
      // The next operation cleans what the killed restore left, and a restore works again.
      const again = await api(second, 'POST', `/api/v2/devdata/snapshots/${snapshotId}/restore`, { body: { skip_backup: true } });
      assert.equal((await pollJob(second, again.json.job_id)).status, 'completed');
    } finally {
      await second.stop();
    }
  });

  it('ingests an uploaded controls CSV as a job, enriches, auto-snapshots, indexes and searches', async () => {
    const sample = cluster.tempDir('upload-sample');
    const env = await setupEnv('upload', 0, { AUTO_SNAPSHOT_AFTER_INGESTION: 'true', NFR_MAX_UPLOAD_MB: '1', CONTEXT_PROVIDERS_PATH: path.join(sample, 'context') });
    await query(env.DATABASE_URL!, 'truncate src_controls_ver_control, src_controls_ref_control cascade');
    assert.equal((await nfrJson(['sample', 'nist', '--out', sample], env)).code, 0);
    const server = await serve(env);
    try {
      // Context through the API too: a job, then an automatic snapshot tagged auto.
      const context = await api(server, 'POST', '/api/v2/pipelines/context/ingest', { token: OPERATOR, body: {} });
      assert.equal(context.status, 202, context.text);
      const contextJob = await pollJob(server, context.json.job_id, 120_000, '/api/v2/pipelines/jobs/:id');
      assert.equal(contextJob.status, 'completed', JSON.stringify(contextJob.error));
      assert.match(contextJob.result.auto_snapshot_id, /^SNAP-/);

      const csv = await readFile(path.join(sample, 'controls.csv'));
      const form = new FormData();
      form.append('file', new Blob([csv], { type: 'text/csv' }), 'nist.csv');
      const res = await fetch(`${server.url}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` }, body: form });
      const accepted = (await res.json()) as any;
      assert.equal(res.status, 202, JSON.stringify(accepted));
      assert.match(accepted.upload_id, /^UPL-\d{4}-\d{4}$/);
      const stored = await readFile(path.join(env.NFR_HOME!, 'data', 'controls', `${accepted.upload_id}.csv`));
      assert.ok(stored.equals(csv), 'the upload is stored byte for byte before processing');
      const job = await pollJob(server, accepted.job_id, 120_000, '/api/v2/pipelines/jobs/:id');
      assert.equal(job.status, 'completed', JSON.stringify(job.error));
      assert.equal(job.result.controls.inserted, 370);
      assert.equal(job.result.enrichment.controls_computed, 370);
      assert.match(job.result.auto_snapshot_id, /^SNAP-/);
      const snapshots = await api(server, 'GET', '/api/v2/devdata/snapshots', { token: READER });
      assert.deepEqual(snapshots.json.snapshots.find((x: { id: string }) => x.id === job.result.auto_snapshot_id).tags, ['auto']);

      const sync = await api(server, 'POST', '/api/v2/pipelines/index/sync', { token: OPERATOR, body: {} });
      assert.equal((await pollJob(server, sync.json.job_id, 120_000, '/api/v2/pipelines/jobs/:id')).status, 'completed');
      const check = await api(server, 'GET', '/api/v2/pipelines/index/check', { token: READER });
      assert.equal(check.status, 200, check.text);
      const search = await api(server, 'GET', `/api/v2/controls/search?q=${encodeURIComponent('multi-factor authentication for privileged accounts')}&limit=5`, { token: READER });
      assert.equal(search.status, 200, search.text);
      assert.ok(search.json.results.some((r: { control_id: string }) => r.control_id.startsWith('IA-2')), search.text);
      assert.deepEqual(search.json.warnings, [], 'the index was just synced');
      await query(env.DATABASE_URL!, "update src_controls_ver_control set tx_to = now() where control_id = 'AC-1' and tx_to is null");
      // The server re-reads the index's state at most once a second: wait for the warning.
      const stale = await waitFor(async () => {
        const r = await api(server, 'GET', `/api/v2/controls/search?q=account`, { token: READER });
        return /out of date/.test(r.json.warnings.join(' ')) && r;
      }, { what: 'search to warn that the index is out of date' });
      assert.match(stale.json.warnings.join(' '), /out of date/);

      // Oversize and wrong-type uploads are refused with a 4xx and store nothing.
      const before = await readdir(path.join(env.NFR_HOME!, 'data', 'controls'));
      const big = new FormData();
      big.append('file', new Blob([Buffer.alloc(2 * 1024 * 1024, 'a')], { type: 'text/csv' }), 'big.csv');
      const tooBig = await fetch(`${server.url}/api/v2/pipelines/controls/ingest`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` }, body: big });
      assert.equal(tooBig.status, 413, await tooBig.text());
      const wrongType = await api(server, 'POST', '/api/v2/pipelines/controls/ingest', { token: OPERATOR, body: 'control_id,title\nX,Y\n', headers: { 'content-type': 'text/csv' } });
      assert.equal(wrongType.status, 415, wrongType.text);
      const json = await api(server, 'POST', '/api/v2/pipelines/controls/ingest', { token: OPERATOR, body: { file: 'x' } });
      assert.equal(json.status, 415, json.text);
      assert.deepEqual(await readdir(path.join(env.NFR_HOME!, 'data', 'controls')), before);
      assert.deepEqual(await readdir(path.join(env.NFR_HOME!, 'data', '.incoming')), []);
    } finally {
      await server.stop();
    }
  });
});
