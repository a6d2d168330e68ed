/** Runs the built `nfr` binary as a user would: a child process, exit code and output. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const NFR_BIN = fileURLToPath(new URL('../../../bin/nfr.js', import.meta.url));

export interface NfrResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type Env = Record<string, string | undefined>;

/**
 * The environment of one test: its database and backup directory, nothing inherited by accident.
 * The hashing embedder, not the default GloVe, unless a test says otherwise (glove.test.ts
 * unsets it to test the default): it needs no 40 MB word table built in every test's home, and
 * the tests that are not about the embedder assert on its 384-dimension vectors.
 */
export function testEnv(vars: Env): Env {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', NFR_LOCK_WAIT_SECONDS: '0', NFR_EMBEDDER: 'hash', ...vars };
}

/**
 * A fresh working directory for the embedded default (no DATABASE_URL: nfr starts its own cluster
 * under ./.nfr), reachable by the postgres user the cluster runs as under root; after the file's
 * tests its cluster is stopped and the directory removed.
 */
export function embeddedHome(prefix: string): { cwd: string; env: Env } {
  const cwd = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(cwd, 0o755);
  const env = testEnv({});
  after(async () => {
    await nfr(['db', 'stop'], env, cwd);
    rmSync(cwd, { recursive: true, force: true });
  });
  return { cwd, env };
}

export function spawnNfr(args: readonly string[], env: Env, cwd = REPO_ROOT): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [NFR_BIN, ...args], { env: env as NodeJS.ProcessEnv, cwd, stdio: 'pipe' });
}

export function nfr(args: readonly string[], env: Env, cwd?: string): Promise<NfrResult> {
  return new Promise((resolve, reject) => {
    const child = spawnNfr(args, env, cwd);
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}

/** Runs nfr with --json and parses stdout; fails the test with the output if it is not JSON. */
export async function nfrJson<T = any>(args: readonly string[], env: Env, cwd?: string): Promise<{ code: number; body: T; stderr: string }> {
  const r = await nfr([...args, '--json'], env, cwd);
  try {
    return { code: r.code, body: JSON.parse(r.stdout) as T, stderr: r.stderr };
  } catch {
    throw new Error(`nfr ${args.join(' ')} printed no JSON (exit ${r.code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}

/** Resolves once the child's stderr matches, rejecting if it exits first or time runs out. */
export function waitForStderr(child: ChildProcessWithoutNullStreams, pattern: RegExp, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; stderr so far: ${seen}`)), timeoutMs);
    const onData = (d: Buffer) => {
      seen += d.toString();
      if (pattern.test(seen)) {
        clearTimeout(timer);
        child.stderr.off('data', onData);
        resolve(seen);
      }
    };
    child.stderr.on('data', onData);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (!pattern.test(seen)) reject(new Error(`nfr exited (${code}) before ${pattern}; stderr: ${seen}`));
    });
  });
}

export function waitForExit(child: ChildProcessWithoutNullStreams): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('close', (code) => resolve(code)));
}

/**
 * `nfr serve --port 0` with `env`, once it listens: its URL, and a stop that waits for its exit.
 * A server that died on its own makes stop() throw with its stderr, so a test that saw only
 * "fetch failed" says why.
 */
export async function serveNfr(env: Env): Promise<{ readonly child: ChildProcessWithoutNullStreams; readonly base: string; stop(): Promise<void> }> {
  const child = spawnNfr(['serve', '--port', '0'], env);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  // Its log: read, so that a full pipe never blocks the server.
  child.stdout.resume();
  const base = /listening on (http:\/\/\S+)/.exec(await waitForStderr(child, /listening on (http:\/\/\S+)/))?.[1] ?? '';
  return {
    child,
    base,
    async stop() {
      const died = child.exitCode !== null && child.exitCode !== 0 ? child.exitCode : undefined;
      child.kill('SIGTERM');
      await waitForExit(child);
      if (died !== undefined) throw new Error(`nfr serve exited (${died}) before the test stopped it; its stderr:\n${stderr}`);
    },
  };
}
