/**
 * Client of an OpenAI-compatible embeddings API (OpenAI, vLLM, llama.cpp server, TEI, Ollama's
 * /v1): POST {model, input} to the embeddings endpoint of EMBEDDINGS_URL (embeddingsEndpoint).
 * Batched, retried with exponential backoff and jitter on network errors, 429 and 5xx (Retry-After respected), and strict about
 * the answer: count, order, numbers and dimension are checked, so a misbehaving server fails
 * loudly instead of filling the index with garbage. Errors name the URL, never the key.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { NfrError, messageOf } from '../errors.js';
import type { Distance, Embedder } from './embedder.js';

export interface RemoteEmbedderOptions {
  /** Base URL, e.g. http://host:8080/v1 (a trailing slash is fine). */
  readonly url: string;
  readonly model: string;
  readonly apiKey: string | undefined;
  /** Texts per request. */
  readonly batchSize?: number;
  /** Attempts per request, the first included. */
  readonly maxAttempts?: number;
  /** First backoff delay; doubles per attempt, with ±50% jitter. */
  readonly baseDelayMs?: number;
  /** Longest single wait, also the cap on Retry-After. */
  readonly maxDelayMs?: number;
  /** Timeout of one HTTP request. */
  readonly timeoutMs?: number;
}

const responseSchema = z.object({
  data: z.array(
    z.object({
      index: z.number().int().nonnegative().optional(),
      embedding: z.array(z.number()),
    }),
  ),
});

/** HTTP statuses worth another try: rate limiting and server-side trouble. */
function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

class RetryableFailure extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(message);
  }
}

/**
 * The embeddings endpoint of EMBEDDINGS_URL, and the same without credentials for messages. Any
 * of the three ways people write it works: the endpoint itself (`http://h/v1/embeddings`), the
 * API base the OpenAI clients take (`http://h/v1`), or the server (`http://h`).
 */
export function embeddingsEndpoint(base: string): { url: string; display: string } {
  const u = new URL(base);
  const p = u.pathname.replace(/\/+$/, '');
  u.pathname = /\/embeddings$/.test(p) ? p : /\/v\d+$/.test(p) ? `${p}/embeddings` : `${p}/v1/embeddings`;
  const display = new URL(u.href);
  display.username = '';
  display.password = '';
  return { url: u.href, display: display.href };
}

/** Embedder over an OpenAI-compatible API. `dimension` is 0 until the first answer, then fixed. */
export class RemoteEmbedder implements Embedder {
  readonly model: string;
  readonly distance: Distance = 'Cosine';
  readonly #endpoint: { url: string; display: string };
  readonly #apiKey: string | undefined;
  readonly #batchSize: number;
  readonly #maxAttempts: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #timeoutMs: number;
  #dimension = 0;

  constructor(options: RemoteEmbedderOptions) {
    this.model = options.model;
    this.#endpoint = embeddingsEndpoint(options.url);
    this.#apiKey = options.apiKey;
    this.#batchSize = options.batchSize ?? 64;
    this.#maxAttempts = options.maxAttempts ?? 5;
    this.#baseDelayMs = options.baseDelayMs ?? 500;
    this.#maxDelayMs = options.maxDelayMs ?? 30_000;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Learned from the first response; every later response must match it. */
  get dimension(): number {
    return this.#dimension;
  }

  /** The endpoint this client posts to (no credentials). */
  get endpoint(): string {
    return this.#endpoint.display;
  }

  async embed(texts: readonly string[]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (let i = 0; i < texts.length; i += this.#batchSize) {
      out.push(...(await this.#embedBatch(texts.slice(i, i + this.#batchSize))));
    }
    return out;
  }

  async #embedBatch(input: readonly string[]): Promise<Float32Array[]> {
    let lastError = '';
    for (let attempt = 1; attempt <= this.#maxAttempts; attempt++) {
      try {
        return this.#parse(await this.#post(input), input.length);
      } catch (err) {
        if (!(err instanceof RetryableFailure)) throw err;
        lastError = err.message;
        if (attempt === this.#maxAttempts) break;
        const backoff = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** (attempt - 1));
        const jittered = backoff * (0.5 + Math.random());
        await sleep(Math.min(this.#maxDelayMs, Math.max(jittered, err.retryAfterMs ?? 0)));
      }
    }
    throw new NfrError(
      'TOOL_FAILED',
      `embeddings endpoint ${this.#endpoint.display} failed after ${this.#maxAttempts} attempts: ${lastError}; ` +
        'check EMBEDDINGS_URL and that the server is running, or unset EMBEDDINGS_URL to use the local embedder',
    );
  }

  async #post(input: readonly string[]): Promise<unknown> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.#apiKey !== undefined) headers.authorization = `Bearer ${this.#apiKey}`;
    let res: Response;
    try {
      res = await fetch(this.#endpoint.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ model: this.model, input }),
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      // fetch reports connection failures as TypeError('fetch failed') with the system error as cause.
      const cause = err instanceof Error && err.cause !== undefined ? `: ${messageOf(err.cause)}` : '';
      throw new RetryableFailure(`${messageOf(err)}${cause}`, undefined);
    }
    if (!res.ok) {
      const body = (await res.text().catch(() => '')).replace(/\s+/g, ' ').slice(0, 200);
      const what = `HTTP ${res.status}${body ? ` (${body})` : ''}`;
      if (retryable(res.status)) throw new RetryableFailure(what, retryAfterMs(res.headers.get('retry-after')));
      const hint = res.status === 401 || res.status === 403 ? '; check EMBEDDINGS_API_KEY' : res.status === 404 ? '; check EMBEDDINGS_URL (the server, its /v1 base or its /v1/embeddings endpoint) and EMBEDDINGS_MODEL' : '';
      throw new NfrError('TOOL_FAILED', `embeddings endpoint ${this.#endpoint.display} refused the request: ${what}${hint}`);
    }
    try {
      return await res.json();
    } catch (err) {
      throw new NfrError('TOOL_FAILED', `embeddings endpoint ${this.#endpoint.display} returned a body that is not JSON: ${messageOf(err)}`);
    }
  }

  #parse(body: unknown, expected: number): Float32Array[] {
    const bad = (why: string) => new NfrError('TOOL_FAILED', `embeddings endpoint ${this.#endpoint.display} returned a malformed response: ${why}`);
    const parsed = responseSchema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw bad(`${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'unexpected shape'} (expected {data: [{index, embedding: number[]}]})`);
    }
    const data = parsed.data.data;
    if (data.length !== expected) throw bad(`${data.length} embeddings for ${expected} inputs`);
    const ordered = new Array<Float32Array | undefined>(expected);
    data.forEach((item, position) => {
      const index = item.index ?? position;
      if (index >= expected || ordered[index] !== undefined) throw bad(`embedding index ${index} is out of range or repeated`);
      ordered[index] = this.#vector(item.embedding, index, bad);
    });
    return ordered as Float32Array[];
  }

  #vector(values: readonly number[], index: number, bad: (why: string) => NfrError): Float32Array {
    if (values.length === 0) throw bad(`embedding ${index} is empty`);
    if (this.#dimension === 0) this.#dimension = values.length;
    else if (values.length !== this.#dimension) throw bad(`embedding ${index} has dimension ${values.length}, expected ${this.#dimension} as before`);
    let norm = 0;
    for (const v of values) {
      if (!Number.isFinite(v)) throw bad(`embedding ${index} contains a non-finite number`);
      norm += v * v;
    }
    // Cosine search needs unit vectors; many servers already return them, some do not.
    norm = Math.sqrt(norm);
    const out = new Float32Array(values.length);
    for (let i = 0; i < values.length; i++) out[i] = norm === 0 ? 0 : (values[i] as number) / norm;
    return out;
  }
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}
