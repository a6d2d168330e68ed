/**
 * The offsite row: the same snapshot's files through nfr's offsite repository against plain
 * lib-storage `Upload` / `GetObject` of the same files to the same store (a loopback Swift with
 * s3api, as the tests use; BENCH_OFFSITE=0 skips it), with and without encryption; and a restore
 * from the bucket into a home with an empty backup directory against download + raw pg_restore.
 *
 * nfr's push is timed in its two parts: the uploads (what the plain Upload does), and the tail of
 * the read-back that checks every object against the manifest (which the plain upload does not do;
 * most of it runs beside the uploads). BENCH_OFFSITE_RUNS repeats the comparisons (default 3),
 * the order of plain and nfr alternating from run to run; medians are reported, with the load
 * average, since the machine may be shared.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { readManifest } from '../../src/snapshot/manifest.js';
import type { PushResult } from '../../src/snapshot/offsite/repository.js';
import { S3Repository } from '../../src/snapshot/offsite/s3-repository.js';
import { mapLimit } from '../../src/util/fs.js';
import { TestSwift } from '../../test/support/swift.js';
import type { Commands } from './commands.js';
import type { Log } from './measure.js';
import { median } from './report.js';
import type { Workspace } from './workspace.js';

/** One run's seconds; every run uses fresh keys, so nothing is skipped as already there. */
interface OffsiteRun {
  readonly plain_upload_s: number;
  readonly nfr_upload_s: number;
  /** The read-back still running after nfr's last upload ended (the rest ran beside the uploads). */
  readonly nfr_check_tail_s: number;
  readonly nfr_encrypted_upload_s: number;
  readonly nfr_encrypted_check_tail_s: number;
  readonly plain_download_s: number;
  readonly nfr_download_s: number;
  readonly nfr_encrypted_download_s: number;
  /** 1-minute load average when the run ended (the machine is shared). */
  readonly load: number;
}

export interface OffsiteResults {
  readonly bytes: number;
  readonly files: number;
  readonly runs: readonly OffsiteRun[];
  /** Medians over the runs; nfr push = upload + the read-back of every object. */
  readonly upload: { readonly plain_s: number; readonly nfr_s: number; readonly nfr_push_s: number; readonly nfr_encrypted_s: number; readonly nfr_encrypted_push_s: number };
  readonly download: { readonly plain_s: number; readonly nfr_s: number; readonly nfr_encrypted_s: number };
  readonly restore: { readonly nfr_s: number; readonly download_s: number; readonly pg_restore_s: number };
  readonly load: { readonly start: number; readonly end: number };
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

/** Runs the offsite comparisons `runs` times (BENCH_OFFSITE_RUNS), the plain and nfr order alternating. */
export async function measureOffsite(ws: Workspace, cmd: Commands, snapshotId: string, runs: number, log: Log): Promise<OffsiteResults> {
  log('  offsite: starting a loopback Swift');
  const swift = await TestSwift.start();
  const loadStart = loadavg()[0] ?? 0;
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
    // The baseline: lib-storage and the SDK as they come (only the checksum setting Swift needs).
    const client = swift.client();
    const scratch = await mkdtemp(path.join(ws.root, 'offsite-'));
    const results: OffsiteRun[] = [];
    let plainDir = '';
    try {
      for (let run = 0; run < runs; run++) {
        const plainUpload = () =>
          seconds(() =>
            mapLimit(manifest.files, FILES, (f) => new Upload({ client, params: { Bucket: BUCKET, Key: `plain${run}/${f.path}`, Body: createReadStream(path.join(dir, f.path)) }, partSize: PART, queueSize: QUEUE }).done()),
          );
        const nfrPush = async (key: boolean) => {
          const r = repo(`${key ? 'enc' : 'nfr'}${run}`, key);
          try {
            return await r.push(dir, manifest);
          } finally {
            r.close();
          }
        };
        let plainUp: number;
        let plain: PushResult;
        let enc: PushResult;
        if (run % 2 === 0) {
          plainUp = await plainUpload();
          plain = await nfrPush(false);
          enc = await nfrPush(true);
        } else {
          enc = await nfrPush(true);
          plain = await nfrPush(false);
          plainUp = await plainUpload();
        }
        log(`  offsite run ${run + 1}: upload plain ${plainUp.toFixed(2)} s; nfr ${s(plain.upload_ms)} + read-back tail ${s(plain.check_ms)}; encrypted ${s(enc.upload_ms)} + ${s(enc.check_ms)}`);

        plainDir = path.join(scratch, `plain${run}`);
        const plainGet = () =>
          seconds(() =>
            mapLimit(manifest.files, FILES, async (f) => {
              const target = path.join(plainDir, f.path);
              await mkdir(path.dirname(target), { recursive: true });
              const r = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `plain${run}/${f.path}` }));
              await pipeline(r.Body as Readable, createWriteStream(target));
            }),
          );
        const nfrFetch = async (key: boolean) => {
          const r = repo(`${key ? 'enc' : 'nfr'}${run}`, key);
          try {
            return await seconds(() => r.fetch(manifest.id as never, path.join(scratch, `${key ? 'enc' : 'nfr'}${run}`)));
          } finally {
            r.close();
          }
        };
        const order = run % 2 === 0 ? (['plain', 'nfr', 'enc'] as const) : (['enc', 'nfr', 'plain'] as const);
        const down: Record<string, number> = {};
        for (const what of order) down[what] = what === 'plain' ? await plainGet() : await nfrFetch(what === 'enc');
        await rm(path.join(scratch, `nfr${run}`), { recursive: true, force: true });
        await rm(path.join(scratch, `enc${run}`), { recursive: true, force: true });
        const load = loadavg()[0] ?? 0;
        log(`  offsite run ${run + 1}: download plain ${down.plain?.toFixed(2)} s; nfr ${down.nfr?.toFixed(2)} s; encrypted ${down.enc?.toFixed(2)} s (load ${load.toFixed(1)})`);
        results.push({
          plain_upload_s: plainUp,
          nfr_upload_s: plain.upload_ms / 1000,
          nfr_check_tail_s: plain.check_ms / 1000,
          nfr_encrypted_upload_s: enc.upload_ms / 1000,
          nfr_encrypted_check_tail_s: enc.check_ms / 1000,
          plain_download_s: down.plain ?? Number.NaN,
          nfr_download_s: down.nfr ?? Number.NaN,
          nfr_encrypted_download_s: down.enc ?? Number.NaN,
          load,
        });
        if (run < runs - 1) await rm(plainDir, { recursive: true, force: true });
      }
    } finally {
      client.destroy();
    }

    // Restore from the bucket: a home whose backup directory is empty, the encrypted copy; against
    // the last plain download + raw pg_restore of it.
    const emptyBackups = path.join(scratch, 'empty-backups');
    await mkdir(emptyBackups, { recursive: true, mode: 0o700 });
    await ws.checkpoint();
    const restored = await cmd.nfrRestoreWith(snapshotId, { ...env, NFR_S3_REPOSITORY: `s3://${BUCKET}/enc0`, NFR_REPOSITORY_KEY_FILE: keyFile, POSTGRES_BACKUP_PATH: emptyBackups });
    log(`  offsite: nfr restore from the bucket ${restored.seconds.toFixed(2)} s`);
    await ws.createEmptyDatabase('bench_offsite_raw');
    await ws.checkpoint();
    const raw = await cmd.rawRestore(path.join(plainDir, 'db'), 'bench_offsite_raw');
    await ws.dropDatabase('bench_offsite_raw');
    const lastDownload = results.at(-1)?.plain_download_s ?? Number.NaN;
    log(`  offsite: download ${lastDownload.toFixed(2)} s + raw pg_restore ${raw.seconds.toFixed(2)} s`);
    await rm(scratch, { recursive: true, force: true });

    const med = (pick: (r: OffsiteRun) => number) => median(results.map(pick));
    return {
      bytes: manifest.total_bytes,
      files: manifest.files.length,
      runs: results,
      upload: {
        plain_s: med((r) => r.plain_upload_s),
        nfr_s: med((r) => r.nfr_upload_s),
        nfr_push_s: med((r) => r.nfr_upload_s + r.nfr_check_tail_s),
        nfr_encrypted_s: med((r) => r.nfr_encrypted_upload_s),
        nfr_encrypted_push_s: med((r) => r.nfr_encrypted_upload_s + r.nfr_encrypted_check_tail_s),
      },
      download: { plain_s: med((r) => r.plain_download_s), nfr_s: med((r) => r.nfr_download_s), nfr_encrypted_s: med((r) => r.nfr_encrypted_download_s) },
      restore: { nfr_s: restored.seconds, download_s: lastDownload, pg_restore_s: raw.seconds },
      load: { start: loadStart, end: loadavg()[0] ?? 0 },
    };
  } finally {
    await swift.stop();
  }
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

export function formatOffsite(r: OffsiteResults): string[] {
  const mib = (r.bytes / 1024 / 1024).toFixed(0);
  const row = (name: string, nfr: number, raw: number) => `| ${name} | ${nfr.toFixed(2)} s | ${raw.toFixed(2)} s | ${(nfr / raw).toFixed(2)}× |`;
  const plainChecked = r.upload.plain_s + r.download.plain_s;
  return [
    `Offsite (loopback Swift s3api; ${mib} MiB in ${r.files} files; medians of ${r.runs.length} run(s); load average ${r.load.start.toFixed(1)} at start, ${r.load.end.toFixed(1)} at end, on ${cpus().length} cores; target nfr/plain ≤ 1.15×)`,
    '',
    '| operation | nfr | plain | nfr/plain |',
    '| --- | --- | --- | --- |',
    row('upload (nfr: SHA-256 on the way, up to the last object stored)', r.upload.nfr_s, r.upload.plain_s),
    row('upload, encrypted (plain: the same plaintext files)', r.upload.nfr_encrypted_s, r.upload.plain_s),
    row('push: upload + read-back of every object vs plain upload', r.upload.nfr_push_s, r.upload.plain_s),
    row('push, encrypted vs plain upload', r.upload.nfr_encrypted_push_s, r.upload.plain_s),
    row('push vs plain upload + plain GET of every object (the check by hand)', r.upload.nfr_push_s, plainChecked),
    row('push, encrypted vs plain upload + plain GET', r.upload.nfr_encrypted_push_s, plainChecked),
    row('download (checked)', r.download.nfr_s, r.download.plain_s),
    row('download (checked), encrypted', r.download.nfr_encrypted_s, r.download.plain_s),
    row('restore from the bucket (encrypted) vs download + pg_restore -j', r.restore.nfr_s, r.restore.download_s + r.restore.pg_restore_s),
  ];
}
