/**
 * The offsite row: the same snapshot's files through nfr's offsite repository against plain
 * lib-storage `Upload` / `GetObject` of the same files to the same store (a loopback Swift with
 * s3api, as the tests use; BENCH_OFFSITE=0 skips it), with and without encryption; and a restore
 * from the bucket into a home with an empty backup directory against download + raw pg_restore.
 *
 * nfr's push is timed in its two parts: the upload itself (what the plain Upload does) and the
 * read-back that checks every object against the manifest (which the plain upload does not do).
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { readManifest } from '../../src/snapshot/manifest.js';
import { S3Repository } from '../../src/snapshot/offsite/s3-repository.js';
import { mapLimit } from '../../src/util/fs.js';
import { TestSwift } from '../../test/support/swift.js';
import type { Commands } from './commands.js';
import type { Log } from './measure.js';
import type { Workspace } from './workspace.js';

export interface OffsiteResults {
  readonly bytes: number;
  readonly files: number;
  readonly upload: { readonly plain_s: number; readonly nfr_s: number; readonly nfr_encrypted_s: number; readonly nfr_check_s: number; readonly nfr_encrypted_check_s: number };
  readonly download: { readonly plain_s: number; readonly nfr_s: number; readonly nfr_encrypted_s: number };
  readonly restore: { readonly nfr_s: number; readonly download_s: number; readonly pg_restore_s: number };
}

const BUCKET = 'nfr-bench';
/** The same concurrency nfr uses (s3-repository.ts): 4 files at once, 4 parts of 8 MiB each. */
const FILES = 4;
const PART = 8 * 1024 * 1024;
const QUEUE = 4;

const seconds = async (fn: () => Promise<unknown>): Promise<number> => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

export async function measureOffsite(ws: Workspace, cmd: Commands, snapshotId: string, log: Log): Promise<OffsiteResults> {
  log('  offsite: starting a loopback Swift');
  const swift = await TestSwift.start();
  try {
    await swift.createBucket(BUCKET);
    const env = swift.env(`s3://${BUCKET}`);
    // The library reads credentials the SDK's way: from this process's environment.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY });
    const dir = path.join(ws.backupsDir, snapshotId);
    const manifest = await readManifest(dir);
    const keyFile = path.join(ws.root, 'repository.key');
    await writeFile(keyFile, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
    const repo = (prefix: string, key: boolean) => new S3Repository({ bucket: BUCKET, prefix, endpoint: swift.endpoint, region: 'us-east-1', forcePathStyle: true, keyFile: key ? keyFile : undefined });
    const client = swift.client();

    const plainUpload = await seconds(() =>
      mapLimit(manifest.files, FILES, (f) => new Upload({ client, params: { Bucket: BUCKET, Key: `plain/${f.path}`, Body: createReadStream(path.join(dir, f.path)) }, partSize: PART, queueSize: QUEUE }).done()),
    );
    log(`  offsite: plain lib-storage upload ${plainUpload.toFixed(2)} s`);
    const plain = await repo('nfr', false).push(dir, manifest);
    log(`  offsite: nfr push ${(plain.upload_ms / 1000).toFixed(2)} s + read-back ${(plain.check_ms / 1000).toFixed(2)} s`);
    const encRepo = repo('enc', true);
    const enc = await encRepo.push(dir, manifest);
    log(`  offsite: nfr push encrypted ${(enc.upload_ms / 1000).toFixed(2)} s + read-back ${(enc.check_ms / 1000).toFixed(2)} s`);

    const scratch = await mkdtemp(path.join(ws.root, 'offsite-'));
    const plainDir = path.join(scratch, 'plain');
    const plainDownload = await seconds(() =>
      mapLimit(manifest.files, FILES, async (f) => {
        const target = path.join(plainDir, f.path);
        await mkdir(path.dirname(target), { recursive: true });
        const r = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `plain/${f.path}` }));
        await pipeline(r.Body as Readable, createWriteStream(target));
      }),
    );
    log(`  offsite: plain GetObject download ${plainDownload.toFixed(2)} s`);
    const nfrDownload = await seconds(() => repo('nfr', false).fetch(manifest.id as never, path.join(scratch, 'nfr')));
    const nfrEncDownload = await seconds(() => encRepo.fetch(manifest.id as never, path.join(scratch, 'enc')));
    log(`  offsite: nfr fetch ${nfrDownload.toFixed(2)} s, encrypted ${nfrEncDownload.toFixed(2)} s`);
    client.destroy();

    // Restore from the bucket: a home whose backup directory is empty, the encrypted copy.
    const emptyBackups = path.join(scratch, 'empty-backups');
    await mkdir(emptyBackups, { recursive: true, mode: 0o700 });
    await ws.checkpoint();
    const restored = await cmd.nfrRestoreWith(snapshotId, { ...env, NFR_S3_REPOSITORY: `s3://${BUCKET}/enc`, NFR_REPOSITORY_KEY_FILE: keyFile, POSTGRES_BACKUP_PATH: emptyBackups });
    log(`  offsite: nfr restore from the bucket ${restored.seconds.toFixed(2)} s`);
    await ws.createEmptyDatabase('bench_offsite_raw');
    await ws.checkpoint();
    const raw = await cmd.rawRestore(path.join(plainDir, 'db'), 'bench_offsite_raw');
    await ws.dropDatabase('bench_offsite_raw');
    log(`  offsite: download ${plainDownload.toFixed(2)} s + raw pg_restore ${raw.seconds.toFixed(2)} s`);
    await rm(scratch, { recursive: true, force: true });

    return {
      bytes: manifest.total_bytes,
      files: manifest.files.length,
      upload: { plain_s: plainUpload, nfr_s: plain.upload_ms / 1000, nfr_encrypted_s: enc.upload_ms / 1000, nfr_check_s: plain.check_ms / 1000, nfr_encrypted_check_s: enc.check_ms / 1000 },
      download: { plain_s: plainDownload, nfr_s: nfrDownload, nfr_encrypted_s: nfrEncDownload },
      restore: { nfr_s: restored.seconds, download_s: plainDownload, pg_restore_s: raw.seconds },
    };
  } finally {
    await swift.stop();
  }
}

export function formatOffsite(r: OffsiteResults): string[] {
  const mib = (r.bytes / 1024 / 1024).toFixed(0);
  const row = (name: string, nfr: number, raw: number) => `| ${name} | ${nfr.toFixed(2)} s | ${raw.toFixed(2)} s | ${(nfr / raw).toFixed(2)}× |`;
  return [
    `Offsite (loopback Swift s3api; ${mib} MiB in ${r.files} files; target nfr/plain ≤ 1.15×)`,
    '',
    '| operation | nfr | plain | nfr/plain |',
    '| --- | --- | --- | --- |',
    row('upload', r.upload.nfr_s, r.upload.plain_s),
    row('upload, encrypted', r.upload.nfr_encrypted_s, r.upload.plain_s),
    row('upload + read-back check', r.upload.nfr_s + r.upload.nfr_check_s, r.upload.plain_s),
    row('upload + read-back check, encrypted', r.upload.nfr_encrypted_s + r.upload.nfr_encrypted_check_s, r.upload.plain_s),
    row('download (checked)', r.download.nfr_s, r.download.plain_s),
    row('download (checked), encrypted', r.download.nfr_encrypted_s, r.download.plain_s),
    row('restore from the bucket vs download + pg_restore -j', r.restore.nfr_s, r.restore.download_s + r.restore.pg_restore_s),
  ];
}
