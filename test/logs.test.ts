/**
 * The server's log (issue 20 item 1): JSON lines on stdout from a real `nfr serve`, a request id
 * on every request (the client's when sane, echoed in x-request-id), job start/end/failure lines,
 * 5xx errors with their cause, NFR_LOG_LEVEL, and never a token or a password.
 */
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfig } from '../src/config.js';
import { serverLogger } from '../src/server/log.js';
import { waitFor } from './support/wait.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';
import { ADMIN, api, API_TOKENS, OPERATOR, pollJob, READER, serve, type Server } from './support/api.js';

type LogLine = Record<string, any>;

let server: Server;
let dbUrl: string;

const cluster = fileCluster(async () => {
  const db = await freshDatabase(cluster, 'logs', { env: { CONTEXT_PROVIDERS_PATH: path.join(cluster.tempDir('logs-context'), 'missing'), API_TOKENS } });
  dbUrl = db.url;
  server = await serve(db.env);
  return () => server.stop();
});

function logLines(s: Server): LogLine[] {
  return s
    .stdout()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        throw new Error(`a log line that is not JSON: ${l}`);
      }
    });
}

/** Waits (bounded) for a log line matching `want`: lines are written just after the answer. */
function waitForLog(s: Server, want: (l: LogLine) => boolean, what: string): Promise<LogLine> {
  return waitFor(() => logLines(s).find(want), { timeoutMs: 30_000, intervalMs: 20, what: `a log line ${what}` }).catch((err: Error) => {
    throw new Error(`${err.message}; log:\n${s.stdout().slice(-4000)}`);
  });
}

describe('nfr serve log', () => {
  it('logs one JSON line per request with its request id, echoed in x-request-id; the client id is kept when sane', async () => {
    const given = await api(server, 'GET', '/api/v2/devdata/snapshots', { token: READER, headers: { 'x-request-id': 'trace-abc.123' } });
    assert.equal(given.status, 200, given.text);
    assert.equal(given.headers.get('x-request-id'), 'trace-abc.123');
    const line = await waitForLog(server, (l) => l.request_id === 'trace-abc.123' && l.msg === 'request completed', 'for trace-abc.123');
    assert.equal(line.level, 'info');
    assert.equal(line.method, 'GET');
    assert.equal(line.route, '/api/v2/devdata/snapshots');
    assert.equal(line.status, 200);
    assert.equal(typeof line.duration_ms, 'number');
    assert.match(line.time, /^\d{4}-\d\d-\d\dT/);

    // An id that is not plain (spaces, too long) is replaced by a fresh one; so is a missing one.
    for (const bad of ['has spaces in it', 'x'.repeat(200), undefined]) {
      const r = await api(server, 'GET', '/api/v2/jobs', { token: READER, headers: bad === undefined ? {} : { 'x-request-id': bad } });
      const id = r.headers.get('x-request-id') ?? '';
      assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-/, `generated for ${bad}`);
      await waitForLog(server, (l) => l.request_id === id && l.route === '/api/v2/jobs', `for ${id}`);
    }
    // Refusals carry one too, and are logged with the route pattern, never the raw path.
    const refused = await api(server, 'GET', '/api/v2/devdata/snapshots/SNAP-2026-0042', { token: null });
    assert.equal(refused.status, 401);
    const refusedId = refused.headers.get('x-request-id') ?? '';
    assert.ok(refusedId);
    const refusedLine = await waitForLog(server, (l) => l.request_id === refusedId, 'for the 401');
    assert.equal(refusedLine.status, 401);
    assert.equal(refusedLine.route, '/api/v2/devdata/snapshots/:id');
  });

  it('logs every job start and end with its id, kind and duration, and a failure with its code', async () => {
    const created = await api(server, 'POST', '/api/v2/devdata/snapshots/create', { token: OPERATOR, body: { name: 'logged' } });
    assert.equal(created.status, 202, created.text);
    const jobId = created.json.job_id as string;
    assert.equal((await pollJob(server, jobId)).status, 'completed');
    const started = await waitForLog(server, (l) => l.job_id === jobId && l.msg === 'job snapshot.create started', 'job started');
    const done = await waitForLog(server, (l) => l.job_id === jobId && l.msg === 'job snapshot.create completed', 'job completed');
    assert.equal(started.kind, 'snapshot.create');
    assert.equal(done.kind, 'snapshot.create');
    assert.ok(done.duration_ms >= 0 && done.duration_ms < 600_000, String(done.duration_ms));

    // The context providers directory does not exist: the job fails, and says so in the log.
    const context = await api(server, 'POST', '/api/v2/pipelines/context/ingest', { token: OPERATOR });
    assert.equal(context.status, 202, context.text);
    assert.equal((await pollJob(server, context.json.job_id)).status, 'failed');
    const failed = await waitForLog(server, (l) => l.job_id === context.json.job_id && l.msg === 'job ingest.context failed', 'job failed');
    assert.equal(failed.level, 'error');
    assert.equal(failed.kind, 'ingest.context');
    assert.equal(typeof failed.duration_ms, 'number');
    assert.ok(failed.code, JSON.stringify(failed));
    assert.match(failed.error, /does not exist/);
  });

  it('never writes a token or the database password, however a request presents them', async () => {
    const wrong = 'wrong-token-that-must-not-be-logged-42';
    assert.equal((await api(server, 'GET', '/api/v2/devdata/snapshots', { token: wrong })).status, 401);
    assert.equal((await api(server, 'GET', `/api/v2/devdata/snapshots?token=${ADMIN}`, { token: ADMIN })).status, 200);
    const marker = await api(server, 'GET', '/api/v2/jobs', { token: READER, headers: { 'x-request-id': 'after-secrets' } });
    assert.equal(marker.status, 200);
    await waitForLog(server, (l) => l.request_id === 'after-secrets', 'after the secrets');
    const log = server.stdout();
    const password = decodeURIComponent(new URL(dbUrl).password);
    assert.ok(password.length > 0, 'the test cluster has a password');
    for (const secret of [ADMIN, OPERATOR, READER, wrong, password]) assert.ok(!log.includes(secret), `a secret is in the log: ${secret.slice(0, 6)}…`);
    assert.doesNotMatch(log, /authorization/i);
  });

  it('redacts Authorization, tokens, passwords and URL passwords in whatever is logged', () => {
    const config = resolveConfig({ env: { API_TOKENS: 'admin:tok-AAAA-1111-secret', DATABASE_URL: 'postgresql://nfr:s3cret-pw@db.example:5432/nfr' }, cwd: '/' });
    const lines: string[] = [];
    const log = serverLogger(config, { write: (s: string) => void lines.push(s) });
    log.info({ headers: { authorization: 'Bearer tok-AAAA-1111-secret' } }, 'headers');
    log.info({ password: 'hunter2', token: 'tok-xyz', nested: { password: 'p2', token: 't2' } }, 'fields');
    log.error({ err: new Error('connect to postgresql://nfr:s3cret-pw@db.example:5432/nfr failed') }, 'failure');
    log.warn('a message quoting tok-AAAA-1111-secret and s3cret-pw and Bearer abc.def');
    assert.equal(lines.length, 4);
    const all = lines.join('');
    for (const secret of ['tok-AAAA-1111-secret', 's3cret-pw', 'hunter2', 'tok-xyz', 'p2"', 't2"', 'abc.def']) assert.ok(!all.includes(secret), `${secret} in ${all}`);
    assert.match(all, /postgresql:\/\/nfr:\[Redacted\]@db\.example/);
    assert.equal(JSON.parse(lines[1]!).nested.password, '[Redacted]');
    assert.equal(JSON.parse(lines[2]!).level, 'error');
  });

  it('takes NFR_LOG_LEVEL from pino\'s levels and refuses anything else, naming the variable', () => {
    assert.equal(resolveConfig({ env: {}, cwd: '/' }).logLevel, 'info');
    assert.equal(resolveConfig({ env: { NFR_LOG_LEVEL: 'warn' }, cwd: '/' }).logLevel, 'warn');
    assert.throws(() => resolveConfig({ env: { NFR_LOG_LEVEL: 'loud' }, cwd: '/' }), /NFR_LOG_LEVEL="loud": expected one of fatal, error, warn, info, debug, trace, silent/);
    const lines: string[] = [];
    const quiet = serverLogger(resolveConfig({ env: { NFR_LOG_LEVEL: 'warn' }, cwd: '/' }), { write: (s: string) => void lines.push(s) });
    quiet.info('not written');
    quiet.warn('written');
    assert.deepEqual(lines.map((l) => JSON.parse(l).msg), ['written']);
  });

  it('logs a 5xx with its error', async () => {
    // The event log is a directory: /metrics cannot read it, and the operator must see why.
    const db = await freshDatabase(cluster, 'logs5xx', { env: { API_TOKENS } });
    await mkdir(path.join(db.backups, '.state', 'events.jsonl'), { recursive: true });
    const broken = await serve(db.env);
    try {
      const r = await api(broken, 'GET', '/metrics', { token: READER, headers: { 'x-request-id': 'five-hundred' } });
      assert.ok(r.status >= 500, `${r.status} ${r.text}`);
      const line = await waitForLog(broken, (l) => l.request_id === 'five-hundred' && l.level === 'error', 'for the 5xx');
      assert.equal(line.status, r.status);
      assert.ok(line.err?.message, JSON.stringify(line));
    } finally {
      await broken.stop();
    }
  });
});
