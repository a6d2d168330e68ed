/**
 * The worker of check-pool.ts: decrypts (when the object is encrypted), hashes and writes (when
 * given the file) the objects it is handed, one session per object, in the order their pieces
 * arrive. Each `data` message is answered by one `plain` message once it is decrypted, hashed and
 * written (carrying the plaintext when the main thread keeps it), or by `failed`, which also ends
 * the session; `done` comes after the file is closed.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './check-pool.js';
import { Decryptor } from './encryption.js';

interface Session {
  readonly decryptor: Decryptor | undefined;
  readonly keep: boolean;
  readonly file: FileHandle | undefined;
  readonly hash: Hash;
  bytes: number;
  /** The session's work so far: pieces are decrypted, hashed and written one after another. */
  chain: Promise<void>;
}

const port = parentPort;
if (!port) throw new Error('check-worker.js runs as a worker thread');
const sessions = new Map<number, Session>();
const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

/** Ends a session: its file closed (what was written stays, as a failed download's files do). */
async function end(id: number, s: Session): Promise<void> {
  sessions.delete(id);
  await s.file?.close();
}

async function handle(m: Exclude<ToWorker, { type: 'open' }>, s: Session): Promise<void> {
  if (sessions.get(m.session) !== s) return; // ended by an earlier failure or a drop
  if (m.type === 'drop') return end(m.session, s);
  if (m.type === 'end') {
    s.decryptor?.end();
    await end(m.session, s);
    return send({ type: 'done', session: m.session, sha256: s.hash.digest('hex'), bytes: s.bytes });
  }
  const data = m.data.map((d) => Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  const plain = s.decryptor ? data.flatMap((d) => (s.decryptor as Decryptor).write(d)) : data;
  for (const p of plain) {
    s.hash.update(p);
    s.bytes += p.length;
  }
  if (s.file && plain.length > 0) await s.file.writev(plain);
  if (!s.keep) return send({ type: 'plain', session: m.session, data: [] });
  // Buffers that own their whole memory move to the main thread without a copy.
  const transfer = new Set<ArrayBuffer>();
  for (const p of plain) if (p.byteOffset === 0 && p.byteLength === p.buffer.byteLength) transfer.add(p.buffer as ArrayBuffer);
  send({ type: 'plain', session: m.session, data: plain }, [...transfer]);
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'open') {
    const decryptor = m.key ? new Decryptor(Buffer.from(m.key), m.name) : undefined;
    sessions.set(m.session, { decryptor, keep: m.keep, file: m.file ?? undefined, hash: createHash('sha256'), bytes: 0, chain: Promise.resolve() });
    return;
  }
  const s = sessions.get(m.session);
  if (!s) return;
  s.chain = s.chain.then(() =>
    handle(m, s).catch(async (err: unknown) => {
      if (sessions.get(m.session) === s) await end(m.session, s).catch(() => {});
      const e = err as { code?: unknown; message?: unknown };
      send({ type: 'failed', session: m.session, code: typeof e.code === 'string' ? e.code : 'INTERNAL', message: String(e.message ?? err) });
    }),
  );
});
