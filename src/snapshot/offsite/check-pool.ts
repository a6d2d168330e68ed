/**
 * Decryption, SHA-256 and writing of downloaded objects on worker threads. The main thread
 * receives the objects (the SDK's HTTP parsing); decrypting (AES-256-GCM), hashing and writing the
 * plaintext cost about as much CPU again, and done on the same thread they ran in sequence with
 * the receiving, a third of an encrypted download's time. Here the main thread hands each object's
 * bytes over in batches and keeps receiving while workers decrypt, hash and write; each object
 * stays on one worker, so its pieces are handled in order. The plaintext does not come back to the
 * main thread: its allocations there (and the collector's work on them) cost as much as the copy.
 *
 * The guarantees are the ones decryptStream gives: plaintext comes back only once its chunk's tag
 * has been checked, and the object's SHA-256 and size are those of every byte that came back.
 *
 * Workers are started on first use, and keep the process alive only while an object is being
 * checked (a command that forgets close() still exits); close() ends them. A session dropped half-way (its stream destroyed) is forgotten by
 * its worker; a worker that dies fails its sessions and is replaced on the next use.
 */
import { availableParallelism } from 'node:os';
import { Transform, type TransformCallback } from 'node:stream';
import type { FileHandle } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { ERROR_CODES, type ErrorCode, NfrError } from '../../errors.js';

/**
 * Main → worker. `key` null: a plain object, only hashed. `file`: the plaintext is written there
 * (the worker closes it). `keep`: the plaintext is also sent back.
 */
export type ToWorker =
  | { readonly type: 'open'; readonly session: number; readonly key: Uint8Array | null; readonly name: string; readonly keep: boolean; readonly file: FileHandle | null }
  | { readonly type: 'data'; readonly session: number; readonly data: Uint8Array[] }
  | { readonly type: 'end'; readonly session: number }
  | { readonly type: 'drop'; readonly session: number };

/** Worker → main: one `plain` per `data`, then `done`; or `failed`, which ends the session. */
export type FromWorker =
  | { readonly type: 'plain'; readonly session: number; readonly data: Uint8Array[] }
  | { readonly type: 'done'; readonly session: number; readonly sha256: string; readonly bytes: number }
  | { readonly type: 'failed'; readonly session: number; readonly code: string; readonly message: string };

const WORKER = new URL('./check-worker.js', import.meta.url);

/** A copy with memory of its own (never a slice of Buffer's shared pool, which must not move). */
function copy(b: Buffer): Buffer {
  const c = Buffer.allocUnsafeSlow(b.length);
  b.copy(c);
  return c;
}
/** Bytes handed over per message: large enough that messaging costs nothing, small enough to overlap. */
const BATCH_BYTES = 1024 * 1024;
/** Batches of one object a worker may have queued before the main thread waits for it. */
const IN_FLIGHT = 4;

interface SessionEvents {
  plain(data: Uint8Array[]): void;
  done(sha256: string, bytes: number): void;
  failed(err: Error): void;
}

interface Slot {
  readonly worker: Worker;
  readonly sessions: Map<number, SessionEvents>;
}

/** What a checked object came to: its plaintext's SHA-256 and size. */
export interface CheckedObject {
  readonly sha256: string;
  readonly bytes: number;
}

/** A Transform whose readable side is the object's authenticated plaintext (when kept). */
export interface CheckStream extends Transform {
  /** Set once the stream has finished: the SHA-256 and size of the plaintext. */
  readonly result: CheckedObject | undefined;
}

export class CheckPool {
  private readonly slots: Slot[] = [];
  private nextSession = 1;

  constructor(private readonly size = Math.max(1, Math.min(2, availableParallelism()))) {}

  /** Workers alive now (for tests: none after close()). */
  get workers(): number {
    return this.slots.length;
  }

  /** Sessions open now, over every worker (for tests: none once every stream has ended or failed). */
  get sessions(): number {
    return this.slots.reduce((n, s) => n + s.sessions.size, 0);
  }

  /**
   * A stream that decrypts (with `key`; null: the object is plain) and hashes on a worker what is
   * written to it, and writes the plaintext into `sink.file` (which the worker then owns and
   * closes, before the stream finishes); its readable side gives the authenticated plaintext when
   * `sink.keep`, nothing otherwise. Errors are decryptStream's (VERIFY_FAILED naming `name`) or
   * the file's. A buffer written to it that owns all its memory moves to the worker (it is left
   * empty): write only buffers nothing else reads afterwards, as the socket's reads are.
   */
  stream(key: Buffer | null, name: string, sink: { readonly file?: FileHandle; readonly keep?: boolean } = {}): CheckStream {
    const slot = this.slot();
    const session = this.nextSession++;
    let batch: Buffer[] = [];
    let batchBytes = 0;
    let inFlight = 0;
    let open = true;
    let failure: Error | undefined;
    /** The write or flush callback waiting on the worker. */
    let waiting: ((err?: Error | null) => void) | undefined;
    let finishing = false;
    let result: CheckedObject | undefined;
    const post = (message: ToWorker, transfer: ArrayBuffer[] = []) => slot.worker.postMessage(message, transfer);
    const close = () => {
      if (!open) return;
      open = false;
      slot.sessions.delete(session);
      if (slot.sessions.size === 0) slot.worker.unref();
    };
    const wake = (err?: Error) => {
      const cb = waiting;
      waiting = undefined;
      cb?.(err ?? null);
    };
    const flushBatch = () => {
      if (batchBytes === 0) return;
      // The pieces move to the worker without a copy: each socket read is a buffer of its own,
      // which nothing else holds once it reached this stream. One that shares its memory (a
      // slice) is copied first, so that nothing else loses its bytes.
      const data = batch.map((b) => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? b : copy(b)));
      batch = [];
      batchBytes = 0;
      inFlight++;
      post({ type: 'data', session, data }, [...new Set(data.map((b) => b.buffer as ArrayBuffer))]);
    };
    const stream = new Transform({
      transform(chunk: Buffer, _encoding, callback: TransformCallback) {
        if (failure) return callback(failure);
        batch.push(chunk);
        batchBytes += chunk.length;
        if (batchBytes >= BATCH_BYTES) flushBatch();
        if (inFlight >= IN_FLIGHT) waiting = callback;
        else callback();
      },
      flush(callback: TransformCallback) {
        if (failure) return callback(failure);
        flushBatch();
        finishing = true;
        waiting = callback;
        post({ type: 'end', session });
      },
      destroy(err, callback) {
        if (open) post({ type: 'drop', session });
        close();
        callback(err);
      },
    }) as CheckStream;
    Object.defineProperty(stream, 'result', { get: () => result });
    slot.sessions.set(session, {
      plain: (data) => {
        inFlight--;
        for (const d of data) stream.push(Buffer.from(d.buffer, d.byteOffset, d.byteLength));
        if (!finishing && inFlight < IN_FLIGHT) wake();
      },
      done: (sha256, bytes) => {
        result = { sha256, bytes };
        close();
        wake();
      },
      failed: (err) => {
        failure = err;
        close();
        if (waiting) wake(err);
        else stream.destroy(err);
      },
    });
    if (slot.sessions.size === 1) slot.worker.ref();
    const file = sink.file ?? null;
    post({ type: 'open', session, key: key ? new Uint8Array(key) : null, name, keep: sink.keep === true, file }, file ? [file as unknown as ArrayBuffer] : []);
    return stream;
  }

  /** Ends every worker (streams still open fail); a later stream() starts new ones. */
  async close(): Promise<void> {
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** The worker with the fewest objects, starting one while there are fewer than `size`. */
  private slot(): Slot {
    const idle = this.slots.find((s) => s.sessions.size === 0);
    if (idle) return idle;
    if (this.slots.length < this.size) return this.start();
    return this.slots.reduce((a, b) => (b.sessions.size < a.sessions.size ? b : a));
  }

  private start(): Slot {
    // Not the process's own flags (--input-type, --cpu-prof, ...): some refuse a worker's file.
    const worker = new Worker(WORKER, { execArgv: [] });
    worker.unref();
    const slot: Slot = { worker, sessions: new Map() };
    const fail = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      for (const events of [...slot.sessions.values()]) events.failed(err);
      slot.sessions.clear();
    };
    worker.on('message', (m: FromWorker) => {
      const events = slot.sessions.get(m.session);
      if (!events) return;
      if (m.type === 'plain') events.plain(m.data);
      else if (m.type === 'done') events.done(m.sha256, m.bytes);
      else events.failed(m.code in ERROR_CODES ? new NfrError(m.code as ErrorCode, m.message) : Object.assign(new Error(m.message), { code: m.code }));
    });
    worker.on('error', (err) => fail(new NfrError('INTERNAL', `the offsite check worker failed: ${err.message}`, { cause: err })));
    worker.on('exit', (code) => fail(new NfrError('INTERNAL', `the offsite check worker exited (code ${code})`)));
    this.slots.push(slot);
    return slot;
  }
}
