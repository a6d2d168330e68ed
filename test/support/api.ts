/**
 * Talking to `nfr serve` as a client does: start one on a random port, send JSON with a token,
 * and poll a job until it ends.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnNfr, waitForExit, waitForStderr, type Env } from './cli.js';

export const ADMIN = 'admin-token-0123456789abcdef';
export const OPERATOR = 'operator-token-0123456789abcdef';
export const READER = 'reader-token-0123456789abcdef';
export const API_TOKENS = `admin:${ADMIN},operator:${OPERATOR},reader:${READER}`;

export interface Server {
  readonly url: string;
  readonly env: Env;
  readonly child: ReturnType<typeof spawnNfr>;
  /** Everything the server wrote on stderr so far. */
  stderr(): string;
  /** Its log so far: the JSON lines on stdout (read as they come, so a full pipe never blocks it). */
  stdout(): string;
  /** Resolves with stderr once it matches (also when it already did). */
  waitForStderr(pattern: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

/** `nfr serve --port 0` with `env`, once it listens. */
export async function serve(env: Env): Promise<Server> {
  const child = spawnNfr(['serve', '--port', '0'], env);
  let seen = '';
  child.stderr.on('data', (chunk: Buffer) => (seen += chunk.toString('utf8')));
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString('utf8')));
  const banner = await waitForStderr(child, /listening on (http:\/\/\S+)/);
  const url = /listening on (http:\/\/\S+)/.exec(banner)?.[1] ?? '';
  return {
    url,
    env,
    child,
    stderr: () => seen,
    stdout: () => log,
    async waitForStderr(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(seen)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nfr serve exited before ${pattern}; stderr: ${seen}`);
        if (Date.now() > deadline) throw new Error(`no ${pattern} on stderr within ${timeoutMs} ms; stderr: ${seen}`);
        await sleep(20);
      }
      return seen;
    },
    async stop() {
      child.kill('SIGTERM');
      await waitForExit(child);
    },
  };
}

export interface ApiAnswer {
  readonly status: number;
  readonly json: any;
  readonly text: string;
  readonly headers: Headers;
}

export async function api(server: Pick<Server, 'url'>, method: string, route: string, options: { token?: string | null; body?: unknown; headers?: Record<string, string> } = {}): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? ADMIN : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (options.body !== undefined) {
    headers['content-type'] ??= 'application/json';
    body = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  }
  const res = await fetch(server.url + route, { method, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

/**
 * Polls a job until it completed or failed, at `route` (`:id` is the job id; any of the three
 * routes that answer for a job).
 */
export async function pollJob(server: Pick<Server, 'url'>, jobId: string, timeoutMs = 120_000, route = '/api/v2/jobs/:id'): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(server, 'GET', route.replace(':id', jobId), { token: READER });
    assert.equal(r.status, 200, r.text);
    if (r.json.status === 'completed' || r.json.status === 'failed' || r.json.status === 'cancelled') return r.json;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${r.json.status} after ${timeoutMs} ms: ${r.text}`);
    await sleep(100);
  }
}

/** Polls until the job has `status`, answering the record. */
export async function waitForJobStatus(server: Pick<Server, 'url'>, jobId: string, status: string, timeoutMs = 60_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await api(server, 'GET', `/api/v2/jobs/${jobId}`, { token: READER });
    assert.equal(r.status, 200, r.text);
    if (r.json.status === status) return r.json;
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${r.json.status}, not ${status}, after ${timeoutMs} ms`);
    await sleep(100);
  }
}
