/**
 * `nfr serve --port 0` as a child process, as users run it: the URL comes from its "listening on"
 * line, calls go over real HTTP, and it is stopped with SIGTERM (SIGKILL only if it hangs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { NFR_BIN, REPO_ROOT, type Env } from './workspace.js';

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 45_000;

export interface ApiResponse {
  readonly status: number;
  readonly json: unknown;
  readonly text: string;
}

export interface JobRecord {
  readonly job_id: string;
  readonly status: 'pending' | 'running' | 'completed' | 'failed';
  readonly result?: Record<string, unknown> | null;
  readonly error?: { code: string; message: string } | null;
}

export class BenchServer {
  /** Last lines the server wrote to stderr, shown when something goes wrong. */
  private stderrTail = '';

  private constructor(
    private readonly child: ChildProcess,
    readonly url: string,
  ) {}

  /** Spawns the server and waits for its banner; kills it again if the banner never comes. */
  static async start(env: Env): Promise<BenchServer> {
    const child = spawn(process.execPath, [NFR_BIN, 'serve', '--port', '0'], { env: env as NodeJS.ProcessEnv, cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let seen = '';
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nfr serve printed no "listening on" line within ${START_TIMEOUT_MS / 1000} s: ${seen}`)), START_TIMEOUT_MS);
        child.stderr?.on('data', (d: Buffer) => {
          seen += d.toString();
          const m = /listening on (http:\/\/\S+)/.exec(seen);
          if (m?.[1]) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        child.once('error', reject);
        child.once('close', (code) => reject(new Error(`nfr serve exited (${code}) before listening: ${seen}`)));
      });
      const server = new BenchServer(child, url);
      // Keep draining stderr so a chatty server never blocks on a full pipe.
      child.stderr?.on('data', (d: Buffer) => (server.stderrTail = (server.stderrTail + d.toString()).slice(-4000)));
      return server;
    } catch (err) {
      child.kill('SIGKILL');
      throw err;
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get recentStderr(): string {
    return this.stderrTail;
  }

  /**
   * CPU seconds (user + system) the server process has used so far, from /proc; undefined where
   * /proc is not available. Tells whether a slow route is the server's own work or waiting.
   */
  cpuSeconds(): number | undefined {
    try {
      const stat = readFileSync(`/proc/${this.child.pid}/stat`, 'utf8');
      // Fields after the ")" of the command name: utime is the 12th, stime the 13th.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return (Number(fields[11]) + Number(fields[12])) / 100;
    } catch {
      return undefined;
    }
  }

  async call(method: string, route: string, token: string, body?: unknown): Promise<ApiResponse> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(this.url + route, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  }

  /**
   * Polls a snapshot job until it finishes. Every poll's status is handed to `onPoll`, so the
   * caller can count the poller's own answers during a restore too.
   */
  async waitForJob(jobId: string, token: string, timeoutMs: number, onPoll: (status: number) => void = () => {}): Promise<JobRecord> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = await this.call('GET', `/api/v2/devdata/snapshots/job/${jobId}/status`, token);
      onPoll(r.status);
      if (r.status === 200) {
        const job = r.json as JobRecord;
        if (job.status === 'completed' || job.status === 'failed') return job;
      } else if (r.status !== 503) {
        throw new Error(`polling job ${jobId}: HTTP ${r.status} ${r.text}`);
      }
      if (Date.now() > deadline) throw new Error(`job ${jobId} did not finish within ${timeoutMs / 1000} s`);
      await sleep(200);
    }
  }

  /** SIGTERM, then SIGKILL if the graceful shutdown hangs; resolves once the process is gone. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('close', () => resolve()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  }
}
