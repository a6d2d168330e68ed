/**
 * Ingestion through `nfr serve`: the file is streamed as a multipart upload to
 * `POST /api/v2/pipelines/controls/ingest` (never held in the benchmark's memory either), and the
 * job is polled to its end. The server's peak RSS (VmHWM) is read when ingestion has finished
 * (the job's step moves on to enrichment) and again at the end, so the figure for ingestion is not
 * the enrichment models'.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';

export interface ServedIngest {
  /** Upload accepted to ingestion finished (the job's counts written), seconds. */
  readonly ingestSeconds: number;
  /** VmHWM of the server once the upload was stored (the 202), bytes. */
  readonly uploadPeakRssBytes: number;
  /** VmHWM of the server when ingestion had finished, bytes. */
  readonly ingestPeakRssBytes: number;
  /** VmHWM at the end of the whole job (ingestion and enrichment), or when ingestion ended. */
  readonly jobPeakRssBytes: number;
  /** VmRSS then: what the server keeps once the work is done (steady), bytes. */
  readonly steadyRssBytes: number;
  readonly status: string;
  readonly job: Record<string, unknown>;
}

async function vmHwm(pid: number, field: 'VmHWM' | 'VmRSS' = 'VmHWM'): Promise<number> {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''));
  return m ? Number(m[1]) * 1024 : 0;
}

function request(base: string, method: string, pathname: string, token: string, body?: { headers: Record<string, string | number>; stream: () => AsyncIterable<Buffer | string> }): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(pathname, base), { method, headers: { authorization: `Bearer ${token}`, ...(body?.headers ?? {}) } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, json: text ? JSON.parse(text) : null });
        } catch (err) {
          reject(new Error(`${method} ${pathname}: ${res.statusCode} ${text.slice(0, 200)}`, { cause: err }));
        }
      });
    });
    req.on('error', reject);
    if (!body) return void req.end();
    (async () => {
      for await (const chunk of body.stream()) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
      req.end();
    })().catch(reject);
  });
}

/** Starts `nfr serve` on a free port with `env`, runs `fn` with its base URL and pid, stops it. */
export async function withServer<T>(nfrBin: string, env: Readonly<Record<string, string | undefined>>, fn: (base: string, pid: number) => Promise<T>): Promise<T> {
  const child = spawn(process.execPath, [nfrBin, 'serve', '--port', '0'], { env: env as NodeJS.ProcessEnv, shell: false, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const base = await new Promise<string>((resolve, reject) => {
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m?.[1]) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`nfr serve exited ${code} before listening: ${stderr}`)));
  });
  try {
    return await fn(base, child.pid ?? 0);
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

/**
 * Uploads `file` to a running server and follows the job to its end, or with `untilIngested` only
 * until ingestion has finished (the enrichment of 200,000 controls is minutes of model runs that
 * are not what is measured; the server is stopped after, and its shutdown ends the job).
 */
export async function ingestThroughServer(base: string, pid: number, token: string, file: string, options: { readonly untilIngested?: boolean } = {}): Promise<ServedIngest> {
  const boundary = `nfr-bench-${randomBytes(8).toString('hex')}`;
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${path.basename(file)}"\r\nContent-Type: text/csv\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  const size = (await stat(file)).size;
  const started = performance.now();
  const accepted = await request(base, 'POST', '/api/v2/pipelines/controls/ingest', token, {
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': Buffer.byteLength(head) + size + Buffer.byteLength(tail) },
    async *stream() {
      yield head;
      yield* createReadStream(file, { highWaterMark: 1 << 16 });
      yield tail;
    },
  });
  if (accepted.status !== 202) throw new Error(`upload answered ${accepted.status}: ${JSON.stringify(accepted.json)}`);
  const uploadPeak = await vmHwm(pid);
  const jobUrl = `/api/v2/jobs/${accepted.json.job_id as string}`;
  let ingestSeconds = 0;
  let ingestPeak = 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
    const { json: job } = await request(base, 'GET', jobUrl, token);
    const step = String(job.current_step ?? '');
    const ingesting = job.status === 'pending' || (job.status === 'running' && (step === '' || step === 'ingesting' || /lock/.test(step)));
    if (!ingesting && ingestSeconds === 0) {
      ingestSeconds = (performance.now() - started) / 1000;
      ingestPeak = await vmHwm(pid);
    }
    if ((options.untilIngested && ingestSeconds > 0) || (job.status !== 'pending' && job.status !== 'running')) {
      return { ingestSeconds, uploadPeakRssBytes: uploadPeak, ingestPeakRssBytes: ingestPeak, jobPeakRssBytes: await vmHwm(pid), steadyRssBytes: await vmHwm(pid, 'VmRSS'), status: job.status as string, job };
    }
  }
}
