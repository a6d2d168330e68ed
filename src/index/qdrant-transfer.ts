/**
 * Collection snapshot files to and from Qdrant, streamed: the download is hashed as it is
 * written, the upload is sent as multipart/form-data straight from its source. Neither ever holds
 * a snapshot in memory.
 *
 * The JS client has no streaming form of these two requests, so they go through node:http(s)
 * directly (with the same `api-key` header the client sends). No timeout while the server
 * answers an upload: with wait=true Qdrant answers only once the collection is recovered, which
 * takes as long as the collection is big; the download has an idle timeout instead.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { NfrError } from '../errors.js';
import { qdrantError, type QdrantCollections } from './qdrant-collections.js';

/** Largest error answer read into a message. */
const ERROR_BODY_MAX = 64 * 1024;

export interface Downloaded {
  readonly size: number;
  readonly sha256: string;
}

/** What Qdrant answers about a collection snapshot (its SnapshotDescription). */
export interface SnapshotDescription {
  readonly name: string;
  readonly size: number;
  readonly checksum?: string | null;
}

/**
 * POST /collections/{name}/snapshots?wait=true. Not through the JS client: its 1.18 fetcher
 * sends `{}` as the body of every POST, and this operation declares none.
 */
export async function createSnapshot(q: QdrantCollections, collection: string): Promise<SnapshotDescription> {
  const what = `create a snapshot of collection ${collection}`;
  const url = new URL(`${q.url}/collections/${encodeURIComponent(collection)}/snapshots?wait=true`);
  const res = await send(q, url, 'POST', {}, undefined, what, 0);
  const text = await readBounded(res);
  if (res.statusCode !== 200) throw answerErrorFrom(q, res.statusCode ?? 0, text, what);
  let result: Partial<SnapshotDescription> | undefined;
  try {
    result = (JSON.parse(text) as { result?: Partial<SnapshotDescription> }).result;
  } catch {
    // handled below
  }
  if (typeof result?.name !== 'string' || typeof result.size !== 'number') {
    throw new NfrError('TOOL_FAILED', `Qdrant at ${q.url} answered the request to ${what} without describing the snapshot: ${text.slice(0, 200)}`);
  }
  return { name: result.name, size: result.size, checksum: typeof result.checksum === 'string' ? result.checksum : null };
}

/** GET /collections/{name}/snapshots/{snapshot} into `file`, hashing it on the way. */
export async function downloadSnapshot(q: QdrantCollections, collection: string, snapshot: string, file: string): Promise<Downloaded> {
  const what = `download snapshot ${snapshot} of collection ${collection}`;
  const res = await openDownload(q, collection, snapshot, what);
  const hash = createHash('sha256');
  let size = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  try {
    await pipeline(res, tap, createWriteStream(file, { mode: 0o600 }));
  } catch (err) {
    throw qdrantError(err, what, q.url);
  }
  return { size, sha256: hash.digest('hex') };
}

/** The answer to GET /collections/{name}/snapshots/{snapshot}, status checked, body unread. */
export async function openDownload(q: QdrantCollections, collection: string, snapshot: string, what: string): Promise<IncomingMessage> {
  const url = new URL(`${q.url}/collections/${encodeURIComponent(collection)}/snapshots/${encodeURIComponent(snapshot)}`);
  const res = await send(q, url, 'GET', {}, undefined, what, q.timeoutMs);
  if (res.statusCode !== 200) throw await answerError(q, res, what);
  return res;
}

export interface UploadOptions {
  /** Exact byte length of `source` (multipart needs the total length up front). */
  readonly size: number;
  /** Hex SHA-256 Qdrant verifies before it recovers anything; omitted when unknown. */
  readonly sha256: string | undefined;
  readonly filename: string;
}

/**
 * POST /collections/{name}/snapshots/upload?wait=true&priority=snapshot[&checksum=…]: Qdrant
 * recovers the collection (creating it if it does not exist) from the uploaded file.
 */
export async function uploadSnapshot(q: QdrantCollections, collection: string, source: Readable, options: UploadOptions): Promise<void> {
  const what = `recover collection ${collection} from an uploaded snapshot`;
  const boundary = `nfr-${randomBytes(16).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="snapshot"; filename="${options.filename.replace(/["\r\n]/g, '_')}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const query = new URLSearchParams({ wait: 'true', priority: 'snapshot' });
  if (options.sha256) query.set('checksum', options.sha256);
  const url = new URL(`${q.url}/collections/${encodeURIComponent(collection)}/snapshots/upload?${query}`);
  let sent = 0;
  async function* body() {
    yield head;
    for await (const chunk of source) {
      sent += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
    if (sent !== options.size) throw new NfrError('VERIFY_FAILED', `the snapshot sent to ${collection} had ${sent} bytes, expected ${options.size}`);
    yield tail;
  }
  const headers = { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(head.length + options.size + tail.length) };
  const res = await send(q, url, 'POST', headers, body, what, 0);
  const text = await readBounded(res);
  if (res.statusCode !== 200) throw answerErrorFrom(q, res.statusCode ?? 0, text, what);
  let answer: { result?: unknown } | undefined;
  try {
    answer = JSON.parse(text) as { result?: unknown };
  } catch {
    // handled below
  }
  if (answer?.result !== true) throw new NfrError('TOOL_FAILED', `Qdrant at ${q.url} did not confirm that it could ${what}: ${text.slice(0, 200)}`);
}

/**
 * Sends one request and resolves with the answer's head. When the server answers before the
 * body is sent (an early error), the answer wins over the broken upload it causes.
 */
function send(
  q: QdrantCollections,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: (() => AsyncIterable<Buffer>) | undefined,
  what: string,
  idleTimeoutMs: number,
): Promise<IncomingMessage> {
  const transport = url.protocol === 'https:' ? https : http;
  const allHeaders: Record<string, string> = { ...headers, ...(q.apiKey ? { 'api-key': q.apiKey } : {}) };
  return new Promise((resolve, reject) => {
    // agent: false — one connection per transfer, closed after it, so no socket outlives the CLI.
    const req = transport.request(url, { method, headers: allHeaders, agent: false });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      if (idleTimeoutMs > 0) res.setTimeout(idleTimeoutMs, () => res.destroy(new Error(`no data for ${idleTimeoutMs / 1000} s`)));
      resolve(res);
    });
    // A failing body (short source, unreadable file) explains the broken request better than it does.
    let bodyFailure: unknown;
    req.on('error', (err) => {
      if (!answered) reject(bodyFailure ?? qdrantError(err, what, q.url));
    });
    if (idleTimeoutMs > 0) req.setTimeout(idleTimeoutMs, () => req.destroy(new Error(`no answer within ${idleTimeoutMs / 1000} s`)));
    if (!body) {
      req.end();
      return;
    }
    const produce = body;
    async function* guarded() {
      try {
        yield* produce();
      } catch (err) {
        bodyFailure = err instanceof NfrError ? err : qdrantError(err, what, q.url);
        throw err;
      }
    }
    pipeline(guarded, req).catch((err: unknown) => {
      if (answered) return;
      req.destroy();
      reject(bodyFailure ?? qdrantError(err, what, q.url));
    });
  });
}

async function readBounded(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    if (size < ERROR_BODY_MAX) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function answerError(q: QdrantCollections, res: IncomingMessage, what: string): Promise<NfrError> {
  return answerErrorFrom(q, res.statusCode ?? 0, await readBounded(res).catch(() => ''), what);
}

/** An error answer in the client's shape, so it reads like every other Qdrant failure. */
function answerErrorFrom(q: QdrantCollections, status: number, text: string, what: string): NfrError {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    data = { status: { error: text.slice(0, 200) } };
  }
  return qdrantError({ status, data, message: `HTTP ${status}` }, what, q.url);
}
