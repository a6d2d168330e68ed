/**
 * The worker of check-pool.ts: decrypts (when the object is encrypted) and hashes the objects it
 * is handed, one session per object, in the order their pieces arrive. Each `data` message is
 * answered by one `plain` message (the authenticated plaintext, when the main thread keeps it) or
 * by `failed`, which also ends the session.
 */
import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { FromWorker, ToWorker } from './check-pool.js';
import { Decryptor } from './encryption.js';

interface Session {
  readonly decryptor: Decryptor | undefined;
  readonly keep: boolean;
  readonly hash: Hash;
  bytes: number;
}

const port = parentPort;
if (!port) throw new Error('check-worker.js runs as a worker thread');
const sessions = new Map<number, Session>();
const send = (message: FromWorker, transfer: ArrayBuffer[] = []) => port.postMessage(message, transfer);

port.on('message', (m: ToWorker) => {
  if (m.type === 'open') {
    sessions.set(m.session, { decryptor: m.key ? new Decryptor(Buffer.from(m.key), m.name) : undefined, keep: m.keep, hash: createHash('sha256'), bytes: 0 });
    return;
  }
  const s = sessions.get(m.session);
  if (!s) return; // dropped, or already failed
  if (m.type === 'drop') {
    sessions.delete(m.session);
    return;
  }
  try {
    if (m.type === 'data') {
      const data = Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      const plain = s.decryptor ? s.decryptor.write(data) : [data];
      for (const p of plain) {
        s.hash.update(p);
        s.bytes += p.length;
      }
      if (!s.keep) return send({ type: 'plain', session: m.session, data: [] });
      // Buffers that own their whole memory move to the main thread without a copy.
      const transfer = new Set<ArrayBuffer>();
      for (const p of plain) if (p.byteOffset === 0 && p.byteLength === p.buffer.byteLength) transfer.add(p.buffer as ArrayBuffer);
      return send({ type: 'plain', session: m.session, data: plain }, [...transfer]);
    }
    s.decryptor?.end();
    sessions.delete(m.session);
    send({ type: 'done', session: m.session, sha256: s.hash.digest('hex'), bytes: s.bytes });
  } catch (err) {
    sessions.delete(m.session);
    const e = err as { code?: unknown; message?: unknown };
    send({ type: 'failed', session: m.session, code: typeof e.code === 'string' ? e.code : 'INTERNAL', message: String(e.message ?? err) });
  }
});
