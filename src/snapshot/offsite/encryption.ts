/**
 * Client-side encryption of the offsite copy: AES-256-GCM from node:crypto, streamed in chunks so
 * memory stays bounded whatever the file's size.
 *
 * Keys. NFR_REPOSITORY_KEY_FILE holds either 32 random bytes (64 hex digits or 44 base64
 * characters) or a passphrase, stretched with scrypt. From that key material every object gets
 * its own key, HKDF-SHA256 over the snapshot's random salt (recorded in its manifest) and the
 * object's name: an object cannot be moved to another name or snapshot and still decrypt, and no
 * two objects ever share a (key, nonce) pair. The key's fingerprint (HKDF with a label of its own;
 * it reveals nothing of the key) is what manifests record and errors name.
 *
 * Object format:
 *
 *   "NFRGCM01"                                         8-byte magic
 *   per chunk: flag (1: final, 0: more) | nonce (12) | length (4, big-endian) | ciphertext | tag (16)
 *
 * Each chunk's additional authenticated data is its index and its flag, so chunks cannot be
 * reordered, dropped, or cut off after a non-final chunk without decryption failing; an object
 * that ends without a final chunk is refused as truncated.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, scrypt } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';
import { NfrError } from '../../errors.js';

export const ENCRYPTION_ALGORITHM = 'AES-256-GCM';
const MAGIC = Buffer.from('NFRGCM01');
/** Plaintext bytes per chunk: 1 MiB keeps memory small and the 33-byte overhead negligible. */
export const CHUNK_BYTES = 1024 * 1024;
const NONCE = 12;
const TAG = 16;
const CHUNK_HEADER = 1 + NONCE + 4;
// Fixed so that one passphrase always gives the same key material (and fingerprint) on every
// server; per-snapshot salts come in at the HKDF step.
const SCRYPT_SALT = 'nfr-repository-key/1';

/** The repository key: its fingerprint, and the per-object keys derived from it. */
export interface RepositoryKey {
  readonly fingerprint: string;
  /** Where it came from, for messages (a path, never the key). */
  readonly source: string;
  objectKey(salt: Buffer, name: string): Buffer;
}

/** Reads NFR_REPOSITORY_KEY_FILE: 32 bytes as hex or base64, or else a passphrase (12 characters or more). */
export async function loadRepositoryKey(file: string): Promise<RepositoryKey> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch (err) {
    throw new NfrError('CONFIG', `NFR_REPOSITORY_KEY_FILE=${file}: cannot read the key file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  let material: Buffer;
  if (/^[0-9a-fA-F]{64}$/.test(text)) material = Buffer.from(text, 'hex');
  else if (/^[A-Za-z0-9+/]{43}=$/.test(text)) material = Buffer.from(text, 'base64');
  else if (text.length >= 12) material = await stretch(text);
  else throw new NfrError('CONFIG', `NFR_REPOSITORY_KEY_FILE=${file}: expected 32 bytes as 64 hex digits or base64, or a passphrase of at least 12 characters`);
  const fingerprint = Buffer.from(hkdfSync('sha256', material, Buffer.alloc(0), 'nfr-key-fingerprint/1', 16)).toString('hex');
  return {
    fingerprint,
    source: file,
    objectKey: (salt, name) => Buffer.from(hkdfSync('sha256', material, salt, `nfr-object/1:${name}`, 32)),
  };
}

function stretch(passphrase: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(passphrase, SCRYPT_SALT, 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

export function newSalt(): Buffer {
  return randomBytes(16);
}

/** Size of the encrypted form of `plainBytes` bytes. */
export function encryptedSize(plainBytes: number): number {
  const chunks = Math.max(1, Math.ceil(plainBytes / CHUNK_BYTES));
  return MAGIC.length + chunks * (CHUNK_HEADER + TAG) + plainBytes;
}

function aad(index: number, final: boolean): Buffer {
  const b = Buffer.alloc(9);
  b.writeBigUInt64BE(BigInt(index));
  b[8] = final ? 1 : 0;
  return b;
}

/**
 * A stream that encrypts what flows through it with `key`. Plaintext is gathered into one reused
 * 1 MiB buffer and each chunk goes out as three pieces (header, ciphertext, tag): the cipher's
 * output is the only copy made of the data.
 */
export function encryptStream(key: Buffer): Transform {
  const plain = Buffer.allocUnsafe(CHUNK_BYTES);
  let filled = 0;
  let index = 0;
  const seal = (stream: Transform, final: boolean) => {
    const nonce = randomBytes(NONCE);
    const cipher = createCipheriv('aes-256-gcm', key, nonce);
    cipher.setAAD(aad(index++, final));
    // GCM's final() yields nothing: the ciphertext is update()'s output, as long as the plaintext.
    const body = cipher.update(plain.subarray(0, filled));
    cipher.final();
    const header = Buffer.alloc(CHUNK_HEADER);
    header[0] = final ? 1 : 0;
    nonce.copy(header, 1);
    header.writeUInt32BE(body.length, 1 + NONCE);
    stream.push(header);
    stream.push(body);
    stream.push(cipher.getAuthTag());
    filled = 0;
  };
  return new Transform({
    construct(callback) {
      this.push(MAGIC);
      callback();
    },
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      let offset = 0;
      while (offset < chunk.length) {
        // A full chunk is sealed only once more data arrives: the last one is sealed as final in flush().
        if (filled === CHUNK_BYTES) seal(this, false);
        const n = chunk.copy(plain, filled, offset, Math.min(chunk.length, offset + CHUNK_BYTES - filled));
        filled += n;
        offset += n;
      }
      callback();
    },
    flush(callback: TransformCallback) {
      seal(this, true);
      callback();
    },
  });
}

/**
 * A stream that decrypts and authenticates an object encrypted by encryptStream; it fails (with
 * VERIFY_FAILED naming `name`) on any changed byte, reordered or missing chunk, or truncation.
 */
export function decryptStream(key: Buffer, name: string): Transform {
  // Pieces arrive in 16-64 KiB reads; they are joined only once a whole chunk is there, so each
  // byte is copied once rather than once per read.
  let parts: Buffer[] = [];
  let size = 0;
  let want = MAGIC.length;
  let headerSeen = false;
  let index = 0;
  let finished = false;
  const damaged = (why: string) => new NfrError('VERIFY_FAILED', `${name}: ${why}; the object was changed or damaged, or encrypted with another key`);
  const joined = (): Buffer => {
    if (parts.length > 1) parts = [Buffer.concat(parts)];
    return parts[0] ?? Buffer.alloc(0);
  };
  const consume = (n: number) => {
    const rest = joined().subarray(n);
    parts = rest.length ? [rest] : [];
    size -= n;
  };
  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      parts.push(chunk);
      size += chunk.length;
      try {
        while (size >= want) {
          const buf = joined();
          if (!headerSeen) {
            if (!buf.subarray(0, MAGIC.length).equals(MAGIC)) throw damaged('not an nfr encrypted object (bad header)');
            consume(MAGIC.length);
            headerSeen = true;
            want = CHUNK_HEADER;
            continue;
          }
          if (finished) throw damaged('data after the final chunk');
          const length = buf.readUInt32BE(1 + NONCE);
          if (length > CHUNK_BYTES) throw damaged(`chunk ${index} claims ${length} bytes`);
          if (size < CHUNK_HEADER + length + TAG) {
            want = CHUNK_HEADER + length + TAG;
            continue;
          }
          const final = buf[0] === 1;
          const decipher = createDecipheriv('aes-256-gcm', key, buf.subarray(1, 1 + NONCE));
          decipher.setAAD(aad(index, final));
          decipher.setAuthTag(buf.subarray(CHUNK_HEADER + length, CHUNK_HEADER + length + TAG));
          let plain: Buffer;
          try {
            // Released only once final() has checked the tag (GCM's final() yields no bytes).
            plain = decipher.update(buf.subarray(CHUNK_HEADER, CHUNK_HEADER + length));
            decipher.final();
          } catch {
            throw damaged(`chunk ${index} failed authentication`);
          }
          this.push(plain);
          consume(CHUNK_HEADER + length + TAG);
          index++;
          finished = final;
          want = finished ? 1 : CHUNK_HEADER;
        }
        callback();
      } catch (err) {
        callback(err as Error);
      }
    },
    flush(callback: TransformCallback) {
      if (!headerSeen || !finished || size > 0) return callback(damaged(finished ? 'data after the final chunk' : 'truncated (no final chunk)'));
      callback();
    },
  });
}
