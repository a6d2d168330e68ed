/**
 * The offsite repository: where a snapshot's copy off this host lives. One interface, chosen once
 * from the configuration (object storage when NFR_S3_REPOSITORY is set, none otherwise); callers
 * never ask which.
 *
 * Layout in the bucket, under the configured prefix:
 *
 *   SNAP-2026-0001/db/toc.dat ...       every file of the snapshot directory (encrypted with a key)
 *   SNAP-2026-0001/manifest.json        written last: the commit marker
 *
 * A snapshot is offsite when, and only when, its manifest is in the bucket: the manifest is put
 * after every other object has been uploaded and read back against the manifest's SHA-256, so
 * an upload killed half-way is never listed by any server, and the next push completes it. No
 * conditional write and no store-side checksum is relied on (Swift answers If-None-Match with
 * 501 and stores x-amz-checksum-* unchecked).
 */
import type { Config, OffsiteConfig } from '../../config.js';
import { NfrError } from '../../errors.js';
import type { SnapshotId } from '../ids.js';
import type { Manifest } from '../manifest.js';
import type { VerifyResult } from '../verify.js';

/** What the bucket's manifest adds to the snapshot's own: how its objects are stored. */
export interface OffsiteRecord {
  readonly format: 'nfr-offsite/1';
  readonly pushed_at: string;
  readonly pushed_by: { readonly host: string; readonly pid: number };
  /** Null: stored as plain files. */
  readonly encryption: {
    readonly algorithm: 'AES-256-GCM';
    readonly chunk_bytes: number;
    /** Fingerprint of the repository key (never the key): restores need the key with this fingerprint. */
    readonly key_fingerprint: string;
    /** Hex; per-object keys are HKDF-SHA256(key, salt, object name). */
    readonly salt: string;
  } | null;
  /** Bytes as stored in the bucket (the manifest's sizes are of the plain files). */
  readonly stored_bytes: number;
}

/** A snapshot as the bucket holds it. */
export interface OffsiteSnapshot {
  readonly manifest: Manifest;
  readonly offsite: OffsiteRecord;
}

export interface PushResult {
  readonly snapshot_id: string;
  /** False when the bucket already held this snapshot's committed copy. */
  readonly uploaded: boolean;
  readonly files: number;
  readonly bytes: number;
  readonly stored_bytes: number;
  readonly encrypted: boolean;
  readonly key_fingerprint: string | null;
  /** From the first upload to the last object stored (read-backs of earlier objects run meanwhile). */
  readonly upload_ms: number;
  /** The read-back still running after the last upload: what checking every object added. */
  readonly check_ms: number;
}

/** What a push answers for a snapshot whose committed copy the bucket already holds. */
export function alreadyOffsite(existing: OffsiteSnapshot): PushResult {
  const { manifest, offsite } = existing;
  return { snapshot_id: manifest.id, uploaded: false, files: manifest.files.length, bytes: manifest.total_bytes, stored_bytes: offsite.stored_bytes, encrypted: offsite.encryption !== null, key_fingerprint: offsite.encryption?.key_fingerprint ?? null, upload_ms: 0, check_ms: 0 };
}

export interface TransferProgress {
  readonly phase: 'uploading' | 'checking upload' | 'downloading' | 'checking offsite';
  readonly files_done: number;
  readonly files_total: number;
  readonly bytes: number;
}

export interface OffsiteRepository {
  /** `s3://bucket/prefix at endpoint`, or `none`; for messages. */
  readonly description: string;
  readonly configured: boolean;
  /** Fails with OFFSITE_* (naming bucket and endpoint) unless the repository answers and accepts us. */
  check(): Promise<void>;
  /** Ids of the snapshots committed to the repository (their manifest is there). */
  ids(): Promise<Set<SnapshotId>>;
  /** A committed snapshot's manifest and how it is stored; undefined when it is not offsite. */
  get(id: SnapshotId): Promise<OffsiteSnapshot | undefined>;
  /** Uploads a completed snapshot directory, checks every object, then commits its manifest. */
  push(dir: string, manifest: Manifest, onProgress?: (p: TransferProgress) => void): Promise<PushResult>;
  /**
   * Downloads a committed snapshot into `into` (which must not exist), checking every file against
   * its manifest; refuses before downloading anything when the key is missing or another one.
   */
  fetch(id: SnapshotId, into: string, onProgress?: (p: TransferProgress) => void): Promise<Manifest>;
  /** Reads every object of the offsite copy back and checks it against the manifest. */
  verify(id: SnapshotId, onProgress?: (p: TransferProgress) => void): Promise<VerifyResult>;
  /** Removes the offsite copy, manifest first (so it stops being listed at once); false if there was none. */
  remove(id: SnapshotId): Promise<boolean>;
  close(): void;
}

/** No offsite repository: snapshots live on local disk only. */
class NoRepository implements OffsiteRepository {
  readonly description = 'none';
  readonly configured = false;
  async check(): Promise<void> {}
  async ids(): Promise<Set<SnapshotId>> {
    return new Set();
  }
  async get(): Promise<undefined> {
    return undefined;
  }
  async push(): Promise<PushResult> {
    throw notConfigured();
  }
  async fetch(id: SnapshotId): Promise<Manifest> {
    throw new NfrError('NOT_FOUND', `snapshot ${id} not found; see \`nfr snapshot list\``);
  }
  async verify(): Promise<VerifyResult> {
    throw notConfigured();
  }
  async remove(): Promise<boolean> {
    return false;
  }
  close(): void {}
}

export function notConfigured(): NfrError {
  return new NfrError('CONFIG', 'no offsite repository is configured: set NFR_S3_REPOSITORY=s3://BUCKET[/PREFIX] (and the AWS_* endpoint and credentials)');
}

/** `s3://bucket/prefix at http://endpoint`: how messages name the repository (never a secret). */
export function describeRepository(cfg: OffsiteConfig): string {
  return `s3://${cfg.bucket}${cfg.prefix ? `/${cfg.prefix}` : ''} at ${cfg.endpoint ?? `AWS S3${cfg.region ? ` (${cfg.region})` : ''}`}`;
}

/**
 * The S3 repository, with the AWS SDK loaded on first use: loading it costs more than the rest of
 * a snapshot command's code, and most commands (a restore of a local snapshot, list, status)
 * never touch the bucket.
 */
class LazyS3Repository implements OffsiteRepository {
  readonly configured = true;
  readonly description: string;
  private repo: Promise<OffsiteRepository> | undefined;
  constructor(private readonly cfg: OffsiteConfig) {
    this.description = describeRepository(cfg);
  }
  private load(): Promise<OffsiteRepository> {
    this.repo ??= import('./s3-repository.js').then((m) => new m.S3Repository(this.cfg));
    return this.repo;
  }
  async check(): Promise<void> {
    return (await this.load()).check();
  }
  async ids(): Promise<Set<SnapshotId>> {
    return (await this.load()).ids();
  }
  async get(id: SnapshotId): Promise<OffsiteSnapshot | undefined> {
    return (await this.load()).get(id);
  }
  async push(dir: string, manifest: Manifest, onProgress?: (p: TransferProgress) => void): Promise<PushResult> {
    return (await this.load()).push(dir, manifest, onProgress);
  }
  async fetch(id: SnapshotId, into: string, onProgress?: (p: TransferProgress) => void): Promise<Manifest> {
    return (await this.load()).fetch(id, into, onProgress);
  }
  async verify(id: SnapshotId, onProgress?: (p: TransferProgress) => void): Promise<VerifyResult> {
    return (await this.load()).verify(id, onProgress);
  }
  async remove(id: SnapshotId): Promise<boolean> {
    return (await this.load()).remove(id);
  }
  close(): void {
    void this.repo?.then((r) => r.close());
  }
}

const opened = new WeakMap<Config['offsite'] & object, OffsiteRepository>();
const none = new NoRepository();

/** The repository the configuration names; one per configuration (its S3 client is reused). */
export function offsiteRepository(config: Config): OffsiteRepository {
  const cfg = config.offsite;
  if (!cfg) return none;
  let repo = opened.get(cfg);
  if (!repo) {
    repo = new LazyS3Repository(cfg);
    opened.set(cfg, repo);
  }
  return repo;
}
