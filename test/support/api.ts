/**
 * Talking to `nfr serve` as a client does: start one on a random port, send JSON with a token,
 * and poll a job until it ends.
 */
import assert from 'node:assert/strict';
import { spawnNfr, waitForExit, waitForStderr, type Env } from './cli.js';
import { waitFor } from './wait.js';

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
    waitForStderr(pattern, timeoutMs = 60_000) {
      return waitFor(
        () => {
          if (pattern.test(seen)) return seen;
          if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nfr serve exited before ${pattern}; stderr: ${seen}`);
          return undefined;
        },
        { timeoutMs, intervalMs: 20, what: `${pattern} on stderr (stderr: ${seen.slice(-2000)})` },
      );
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
export function pollJob(server: Pick<Server, 'url'>, jobId: string, timeoutMs = 120_000, route = '/api/v2/jobs/:id'): Promise<any> {
  const ended = new Set(['completed', 'failed', 'cancelled']);
  return waitForJob(server, route.replace(':id', jobId), (job) => ended.has(job.status), { timeoutMs, what: `job ${jobId} to end` });
}

/** Reads a job at `path` until `done` holds for it, answering that record; fails with the last one seen. */
async function waitForJob(server: Pick<Server, 'url'>, path: string, done: (job: any) => boolean, options: { timeoutMs: number; what: string }): Promise<any> {
  let last = '';
  try {
    return await waitFor(
      async () => {
        const r = await api(server, 'GET', path, { token: READER });
        assert.equal(r.status, 200, r.text);
        last = r.text;
        return done(r.json) ? r.json : undefined;
      },
      { timeoutMs: options.timeoutMs, intervalMs: 100, what: options.what },
    );
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    throw new Error(`${(err as Error).message}; last record: ${last}`);
  }
}

/** Polls until the job has `status`, answering the record. */
export function waitForJobStatus(server: Pick<Server, 'url'>, jobId: string, status: string, timeoutMs = 60_000): Promise<any> {
  return waitForJob(server, `/api/v2/jobs/${jobId}`, (job) => job.status === status, { timeoutMs, what: `job ${jobId} to be ${status}` });
}
