/**
 * The offsite repository in S3-compatible object storage (see repository.ts for the layout and
 * the commit rule). Files go up through lib-storage's Upload: multipart and parallel for large
 * files, with memory bounded by part size × queue size × files in flight.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { OffsiteConfig } from '../../config.js';
import { messageOf, NfrError } from '../../errors.js';
import { faultPoint } from '../../util/fault.js';
import { atomicWriteFile, mapLimit } from '../../util/fs.js';
import { isSnapshotId, type SnapshotId } from '../ids.js';
import { manifestSchema, type FileEntry, type Manifest } from '../manifest.js';
import { MANIFEST_FILE } from '../store.js';
import type { FileCheck, VerifyResult } from '../verify.js';
import { CheckPool } from './check-pool.js';
import { CHUNK_BYTES, ENCRYPTION_ALGORITHM, encryptedSize, encryptStream, loadRepositoryKey, newSalt, type RepositoryKey } from './encryption.js';
import { alreadyOffsite, type OffsiteRecord, type OffsiteRepository, type OffsiteSnapshot, type PushResult, type TransferProgress } from './repository.js';
import { checkBucket, createS3Client, describeRepository, offsiteError } from './s3.js';

/** Files uploaded or downloaded at once; each large one has PART_QUEUE parts of PART_BYTES in flight. */
const FILES_AT_ONCE = 4;
const PART_BYTES = 8 * 1024 * 1024;
const PART_QUEUE = 4;
/** Objects up to this size come down as one streamed GET, larger ones as ranges (see readObject). */
const WHOLE_GET_BYTES = 1024 * 1024 * 1024;

/** Tuning a test may set to take the other read path with small objects. */
export interface S3RepositoryOptions {
  /** Objects up to this many bytes (as stored; at least one part) are read with one GET, larger ones as ranged GETs. */
  readonly wholeGetBytes?: number;
}

/** The repository key and a snapshot's salt: what the per-object keys are derived from. */
interface ObjectCrypto {
  readonly key: RepositoryKey;
  readonly salt: Buffer;
}

/** Runs at most `n` of the functions given to it at once; the others wait their turn. */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

export class S3Repository implements OffsiteRepository {
  readonly configured = true;
  readonly description: string;
  private clientValue: S3Client | undefined;
  private keyValue: Promise<RepositoryKey> | undefined;
  /** Decrypts and hashes what comes back, off this thread; its workers start on first use. */
  private readonly checks = new CheckPool();

  private readonly wholeGetBytes: number;

  constructor(
    private readonly cfg: OffsiteConfig,
    options: S3RepositoryOptions = {},
  ) {
    this.description = describeRepository(cfg);
    this.wholeGetBytes = options.wholeGetBytes ?? WHOLE_GET_BYTES;
  }

  private get client(): S3Client {
    this.clientValue ??= createS3Client(this.cfg);
    return this.clientValue;
  }

  /** The repository key, if NFR_REPOSITORY_KEY_FILE is set (read once). */
  private key(): Promise<RepositoryKey | undefined> {
    if (!this.cfg.keyFile) return Promise.resolve(undefined);
    this.keyValue ??= loadRepositoryKey(this.cfg.keyFile);
    return this.keyValue;
  }

  private objectKey(id: string, file: string): string {
    return `${this.cfg.prefix ? `${this.cfg.prefix}/` : ''}${id}/${file}`;
  }

  private fail(err: unknown, doing: string): NfrError {
    return offsiteError(err, this.cfg, doing);
  }

  check(): Promise<void> {
    return checkBucket(this.client, this.cfg);
  }

  async ids(): Promise<Set<SnapshotId>> {
    const base = this.cfg.prefix ? `${this.cfg.prefix}/` : '';
    const out = new Set<SnapshotId>();
    for (const key of await this.listKeys(base)) {
      const rest = key.slice(base.length).split('/');
      if (rest.length === 2 && rest[1] === MANIFEST_FILE && isSnapshotId(rest[0] ?? '')) out.add(rest[0] as SnapshotId);
    }
    return out;
  }

  private async listKeys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.cfg.bucket, Prefix: prefix, ContinuationToken: token }));
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (err) {
      throw this.fail(err, `listing ${prefix || 'the bucket'}`);
    }
    return keys;
  }

  async get(id: SnapshotId): Promise<OffsiteSnapshot | undefined> {
    const text = await this.getText(this.objectKey(id, MANIFEST_FILE));
    if (text === undefined) return undefined;
    return parseOffsiteManifest(text, `${this.description}: ${id}/${MANIFEST_FILE}`);
  }

  private async getText(key: string): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: key }));
      return (await r.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey') return undefined;
      throw this.fail(err, `reading ${key}`);
    }
  }

  /**
   * An object as one streamed GET (never buffered: the body's pieces flow on as they arrive).
   * The size the store reports must be the size expected, as for ranged reads.
   */
  private async getWhole(key: string, expectedSize: number): Promise<Readable> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: key }));
      const body = r.Body as Readable | undefined;
      if (!body) throw new NfrError('VERIFY_FAILED', `${key}: the store answered without a body`);
      if (r.ContentLength !== expectedSize) {
        body.destroy();
        throw sizeMismatch(key, r.ContentLength, expectedSize);
      }
      return body;
    } catch (err) {
      throw this.readFailure(err, key);
    }
  }

  private readFailure(err: unknown, key: string): NfrError {
    if (err instanceof NfrError) return err;
    if ((err as { name?: string }).name === 'NoSuchKey') return new NfrError('VERIFY_FAILED', `${this.description}: ${key} is missing`);
    return this.fail(err, `reading ${key}`);
  }

  /**
   * An object's bytes in order; the size the store reports must be the size expected.
   *
   * Up to wholeGetBytes (1 GiB), one streamed GET, as a plain GetObject download does: files
   * come down FILES_AT_ONCE at a time, and the decrypting and hashing run on the check workers,
   * so one connection per file keeps up. Ranges of 8 MiB cost one request each (180 for the
   * 1 GB bench snapshot against 31), and the store's proxy spends CPU on every request: on the
   * loopback Swift the encrypted download took 13.1 s by ranges against 9.2 s by whole GETs
   * (plain GetObject 10.7 s, medians of 5 alternating runs at load 7).
   *
   * Larger objects come down as ranged GETs of PART_BYTES, PART_QUEUE at a time (as lib-storage
   * uploads them), so that one huge file does not come down through a single connection; memory
   * stays within PART_QUEUE parts.
   */
  private async readObject(key: string, expectedSize: number): Promise<AsyncIterable<Buffer>> {
    if (expectedSize <= Math.max(PART_BYTES, this.wholeGetBytes)) return this.getWhole(key, expectedSize);
    // A range is kept as the pieces the socket delivered, not joined into one buffer: joining
    // would copy every byte once more, on the thread that also decrypts and hashes.
    const range = async (start: number): Promise<Buffer[]> => {
      const end = Math.min(expectedSize, start + PART_BYTES) - 1;
      try {
        const r = await this.client.send(new GetObjectCommand({ Bucket: this.cfg.bucket, Key: key, Range: `bytes=${start}-${end}` }));
        const total = Number(/\/(\d+)$/.exec(r.ContentRange ?? '')?.[1] ?? Number.NaN);
        if (total !== expectedSize) {
          (r.Body as Readable | undefined)?.destroy();
          throw sizeMismatch(key, Number.isNaN(total) ? undefined : total, expectedSize);
        }
        const pieces: Buffer[] = [];
        let bytes = 0;
        for await (const piece of (r.Body as Readable | undefined) ?? []) {
          pieces.push(piece as Buffer);
          bytes += (piece as Buffer).length;
        }
        if (bytes !== end - start + 1) throw new NfrError('VERIFY_FAILED', `${key}: bytes ${start}-${end} came back ${bytes < end - start + 1 ? 'short' : 'long'} (${bytes} bytes)`);
        return pieces;
      } catch (err) {
        if ((err as { name?: string }).name === 'InvalidRange') throw new NfrError('VERIFY_FAILED', `${key}: shorter than the ${expectedSize} bytes expected`);
        throw this.readFailure(err, key);
      }
    };
    return (async function* () {
      const pending: Promise<Buffer[]>[] = [];
      let next = 0;
      const fill = () => {
        while (pending.length < PART_QUEUE && next < expectedSize) {
          const p = range(next);
          p.catch(() => {}); // observed in order below; a consumer that stops early leaves none unhandled
          pending.push(p);
          next += PART_BYTES;
        }
      };
      fill();
      for (let p = pending.shift(); p; p = pending.shift()) {
        const part = await p;
        fill();
        yield* part;
      }
    })();
  }

  async push(dir: string, manifest: Manifest, onProgress: (p: TransferProgress) => void = () => {}): Promise<PushResult> {
    const id = manifest.id as SnapshotId;
    const existing = await this.get(id);
    if (existing && existing.manifest.completed_at === manifest.completed_at) {
      return alreadyOffsite(existing);
    }
    await this.abortLeftoverUploads(id);
    const key = await this.key();
    const salt = newSalt();
    const crypto = key && { key, salt };
    const started = Date.now();
    const files = manifest.files;
    let uploadedFiles = 0;
    let uploadedBytes = 0;
    let checkedFiles = 0;
    let checkedBytes = 0;
    let lastUpload = started;
    onProgress({ phase: 'uploading', files_done: 0, files_total: files.length, bytes: 0 });
    // Every object is read back, every byte, against the manifest's SHA-256: a store may accept a
    // PUT and keep something else, and Swift stores x-amz-checksum-* without checking it. Each
    // read-back starts as soon as its object is up, beside the uploads still running, rather than
    // all of them after the last upload; the largest files go up first, so their long uploads
    // hide the read-back of the small ones.
    const checking = limiter(FILES_AT_ONCE);
    const checks: Promise<FileCheck>[] = [];
    const upload = mapLimit([...files].sort((a, b) => b.size - a.size), FILES_AT_ONCE, async (entry) => {
      await this.uploadFile(path.join(dir, entry.path), id, entry, crypto ? key.objectKey(salt, `${id}/${entry.path}`) : undefined);
      lastUpload = Date.now();
      uploadedBytes += entry.size;
      onProgress({ phase: 'uploading', files_done: ++uploadedFiles, files_total: files.length, bytes: uploadedBytes });
      checks.push(
        checking(async () => {
          const check = await this.checkObject(id, entry, crypto);
          checkedBytes += entry.size;
          onProgress({ phase: 'checking upload', files_done: ++checkedFiles, files_total: files.length, bytes: checkedBytes });
          return check;
        }),
      );
    });
    // Settle every read-back already started before failing: none is left running behind an error.
    const uploaded = await upload.then(
      () => null,
      (err: unknown) => err,
    );
    const results = await Promise.allSettled(checks);
    if (uploaded !== null) throw uploaded;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await faultPoint('offsite-uploaded');
    const problems = results
      .map((r) => (r as PromiseFulfilledResult<FileCheck>).value)
      .filter((c) => !c.ok)
      .map((c) => `${c.path}: ${c.problem}`)
      .sort();
    if (problems.length > 0) throw new NfrError('VERIFY_FAILED', `the upload of ${id} to ${this.description} does not read back as it was sent:\n  ${problems.slice(0, 10).join('\n  ')}; push it again with nfr snapshot push --id ${id}`);
    const storedBytes = files.reduce((sum, f) => sum + (key ? encryptedSize(f.size) : f.size), 0);
    const record: OffsiteRecord = {
      format: 'nfr-offsite/1',
      pushed_at: new Date().toISOString(),
      pushed_by: { host: hostname(), pid: process.pid },
      encryption: key ? { algorithm: ENCRYPTION_ALGORITHM, chunk_bytes: CHUNK_BYTES, key_fingerprint: key.fingerprint, salt: salt.toString('hex') } : null,
      stored_bytes: storedBytes,
    };
    // The snapshot's manifest as written on disk (fields this version does not know included),
    // with the offsite record beside it. Last: its presence is what makes the copy complete.
    const local = JSON.parse(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')) as Record<string, unknown>;
    const text = JSON.stringify({ ...local, offsite: record }, null, 2) + '\n';
    const manifestKey = this.objectKey(id, MANIFEST_FILE);
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.cfg.bucket, Key: manifestKey, Body: text, ContentType: 'application/json' }));
    } catch (err) {
      throw this.fail(err, `writing ${manifestKey}`);
    }
    if ((await this.getText(manifestKey)) !== text) throw new NfrError('VERIFY_FAILED', `${this.description}: ${manifestKey} does not read back as written; push ${id} again`);
    return { snapshot_id: id, uploaded: true, files: files.length, bytes: manifest.total_bytes, stored_bytes: storedBytes, encrypted: key !== undefined, key_fingerprint: key?.fingerprint ?? null, upload_ms: lastUpload - started, check_ms: Date.now() - lastUpload };
  }

  private async uploadFile(file: string, id: string, entry: FileEntry, objectKey: Buffer | undefined): Promise<void> {
    const key = this.objectKey(id, entry.path);
    // The local file is hashed on its way up: a file damaged on disk since the manifest was
    // written is not shipped as if it were good.
    const hash = createHash('sha256');
    let size = 0;
    const source = createReadStream(file, { highWaterMark: 1024 * 1024 });
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    const body = new PassThrough({ highWaterMark: 1024 * 1024 });
    const piping = objectKey ? pipeline(source, tap, encryptStream(objectKey), body) : pipeline(source, tap, body);
    const upload = new Upload({ client: this.client, params: { Bucket: this.cfg.bucket, Key: key, Body: body }, partSize: PART_BYTES, queueSize: PART_QUEUE, leavePartsOnError: false });
    try {
      await Promise.all([piping, upload.done()]);
    } catch (err) {
      body.destroy();
      await upload.abort().catch(() => {});
      if (err instanceof NfrError || (err as NodeJS.ErrnoException).syscall) throw err;
      throw this.fail(err, `uploading ${key}`);
    }
    const sha = hash.digest('hex');
    if (size !== entry.size || sha !== entry.sha256) {
      throw new NfrError('VERIFY_FAILED', `${file} changed on disk since its manifest was written (SHA-256 ${sha}, manifest ${entry.sha256}); run nfr snapshot verify --id ${id}`);
    }
  }

  /** Multipart uploads a killed push left behind (their parts cost storage and are never listed). */
  private async abortLeftoverUploads(id: string): Promise<void> {
    const prefix = this.objectKey(id, '');
    try {
      const r = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.cfg.bucket, Prefix: prefix }));
      for (const u of r.Uploads ?? []) {
        if (u.Key && u.UploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.cfg.bucket, Key: u.Key, UploadId: u.UploadId })).catch(() => {});
      }
    } catch (err) {
      const e = this.fail(err, `listing unfinished uploads of ${id}`);
      // A store without the call leaves the parts to its own lifecycle rules; anything else is real.
      if (e.code !== 'TOOL_FAILED') throw e;
    }
  }

  /** Streams every object back, decrypting when encrypted, and compares size and SHA-256 with the manifest. */
  private async checkObjects(id: string, files: readonly FileEntry[], crypto: ObjectCrypto | undefined, onProgress: (p: TransferProgress) => void, saveInto?: string): Promise<VerifyResult> {
    let done = 0;
    let bytes = 0;
    onProgress({ phase: 'checking offsite', files_done: 0, files_total: files.length, bytes: 0 });
    // Largest first: a large file started last would come down alone at the end.
    const largestFirst = await mapLimit([...files].sort((a, b) => b.size - a.size), FILES_AT_ONCE, async (entry) => {
      const check = await this.checkObject(id, entry, crypto, saveInto);
      bytes += entry.size;
      onProgress({ phase: 'checking offsite', files_done: ++done, files_total: files.length, bytes });
      return check;
    });
    const byPath = new Map(largestFirst.map((c) => [c.path, c]));
    const checks = files.map((f) => byPath.get(f.path) as FileCheck);
    const problems = checks.filter((c) => !c.ok).map((c) => `${c.path}: ${c.problem}`).sort();
    return { id, ok: problems.length === 0, problems, files_checked: files.length, bytes_checked: bytes, files: checks };
  }

  /**
   * Streams one object back (into `saveInto` when given), decrypting when encrypted, and compares
   * its size and SHA-256 with the manifest. A damaged object is a problem in the result; only an
   * unreachable or refusing store throws.
   */
  private async checkObject(id: string, entry: FileEntry, crypto: ObjectCrypto | undefined, saveInto?: string): Promise<FileCheck> {
    const key = this.objectKey(id, entry.path);
    let problem: string | null = null;
    try {
      const stream = await this.readObject(key, crypto ? encryptedSize(entry.size) : entry.size);
      const objectKey = crypto ? crypto.key.objectKey(crypto.salt, `${id}/${entry.path}`) : null;
      // Decrypted, hashed and written on a worker while this thread receives (check-pool.ts);
      // right before the pipeline that ends it whatever happens.
      const file = saveInto ? await openTarget(path.join(saveInto, entry.path)) : undefined;
      const checked = this.checks.stream(objectKey, key, { file });
      await pipeline(stream, checked, async (source: AsyncIterable<Buffer>) => {
        for await (const _ of source); // nothing comes back: the worker writes the file
      });
      const result = checked.result;
      if (!result) problem = 'the check ended without a result';
      else if (result.bytes !== entry.size) problem = `size ${result.bytes} bytes, manifest says ${entry.size}`;
      else if (result.sha256 !== entry.sha256) problem = `SHA-256 ${result.sha256} does not match the manifest's ${entry.sha256}`;
    } catch (err) {
      if (err instanceof NfrError && err.code.startsWith('OFFSITE_')) throw err;
      problem = messageOf(err).replace(`${key}: `, '');
    }
    return { path: entry.path, size: entry.size, ok: problem === null, problem };
  }

  /** The key a snapshot needs, or a CONFIG error naming its fingerprint (before anything is read). */
  private async keyFor(snapshot: OffsiteSnapshot): Promise<ObjectCrypto | undefined> {
    const enc = snapshot.offsite.encryption;
    if (!enc) return undefined;
    const key = await this.key();
    const id = snapshot.manifest.id;
    if (!key) {
      throw new NfrError('CONFIG', `snapshot ${id} is encrypted with the repository key of fingerprint ${enc.key_fingerprint}; set NFR_REPOSITORY_KEY_FILE to the file holding that key`);
    }
    if (key.fingerprint !== enc.key_fingerprint) {
      throw new NfrError('CONFIG', `snapshot ${id} is encrypted with the repository key of fingerprint ${enc.key_fingerprint}, but ${key.source} holds the key of fingerprint ${key.fingerprint}; set NFR_REPOSITORY_KEY_FILE to the file holding the key ${enc.key_fingerprint}`);
    }
    return { key, salt: Buffer.from(enc.salt, 'hex') };
  }

  private async committed(id: SnapshotId): Promise<OffsiteSnapshot> {
    const snapshot = await this.get(id);
    if (!snapshot) throw new NfrError('NOT_FOUND', `snapshot ${id} is not in the offsite repository ${this.description}; see \`nfr snapshot list\``);
    return snapshot;
  }

  async fetch(id: SnapshotId, into: string, onProgress: (p: TransferProgress) => void = () => {}): Promise<Manifest> {
    const snapshot = await this.committed(id);
    const crypto = await this.keyFor(snapshot);
    await mkdir(into, { recursive: true, mode: 0o700 });
    const result = await this.checkObjects(id, snapshot.manifest.files, crypto, (p) => onProgress({ ...p, phase: 'downloading' }), into);
    if (!result.ok) {
      throw new NfrError('VERIFY_FAILED', `the offsite copy of ${id} in ${this.description} failed verification; it will not be restored:\n  ${result.problems.slice(0, 10).join('\n  ')}`, { details: { problems: result.problems } });
    }
    // The snapshot's own manifest, without the bucket's record: the local copy is a plain snapshot.
    const { offsite: _record, ...local } = JSON.parse((await this.getText(this.objectKey(id, MANIFEST_FILE))) ?? '{}') as Record<string, unknown>;
    await atomicWriteFile(path.join(into, MANIFEST_FILE), JSON.stringify(local, null, 2) + '\n');
    return snapshot.manifest;
  }

  async verify(id: SnapshotId, onProgress: (p: TransferProgress) => void = () => {}): Promise<VerifyResult> {
    const snapshot = await this.committed(id);
    const crypto = await this.keyFor(snapshot);
    return this.checkObjects(id, snapshot.manifest.files, crypto, onProgress);
  }

  async remove(id: SnapshotId): Promise<boolean> {
    const manifestKey = this.objectKey(id, MANIFEST_FILE);
    const keys = await this.listKeys(this.objectKey(id, ''));
    if (keys.length === 0) return false;
    const del = async (key: string) => {
      try {
        await this.client.send(new DeleteObjectCommand({ Bucket: this.cfg.bucket, Key: key }));
      } catch (err) {
        throw this.fail(err, `deleting ${key}`);
      }
    };
    // The manifest first: from that instant no server lists it, and a kill leaves only unlisted objects.
    if (keys.includes(manifestKey)) await del(manifestKey);
    await mapLimit(
      keys.filter((k) => k !== manifestKey),
      8,
      del,
    );
    await this.abortLeftoverUploads(id);
    return true;
  }

  close(): void {
    this.clientValue?.destroy();
    this.clientValue = undefined;
    void this.checks.close();
  }
}

async function openTarget(file: string): Promise<FileHandle> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  return open(file, 'wx', 0o600);
}

const offsiteRecordSchema = {
  parse(value: unknown, where: string): OffsiteRecord {
    const r = value as Partial<OffsiteRecord> | undefined;
    const enc = r?.encryption;
    const ok =
      r?.format === 'nfr-offsite/1' &&
      typeof r.pushed_at === 'string' &&
      typeof r.stored_bytes === 'number' &&
      (enc === null || (enc !== undefined && enc.algorithm === ENCRYPTION_ALGORITHM && /^[0-9a-f]{32}$/.test(enc.key_fingerprint) && /^[0-9a-f]{32}$/.test(enc.salt) && enc.chunk_bytes === CHUNK_BYTES));
    if (!ok) throw new NfrError('VERIFY_FAILED', `${where}: the offsite record is missing or not one this version of nfr reads`);
    return r as OffsiteRecord;
  },
};

function parseOffsiteManifest(text: string, where: string): OffsiteSnapshot {
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new NfrError('VERIFY_FAILED', `${where} is not valid JSON: ${messageOf(err)}`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new NfrError('VERIFY_FAILED', `${where} is invalid at ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'unknown problem'}`);
  }
  return { manifest: parsed.data, offsite: offsiteRecordSchema.parse(json.offsite, where) };
}

/** An object whose size in the store (a whole GET's length, a range's total) is not the manifest's. */
function sizeMismatch(key: string, stored: number | undefined, expected: number): NfrError {
  return new NfrError('VERIFY_FAILED', `${key}: size ${stored ?? 'unknown'} bytes in the store, ${expected} expected`);
}
