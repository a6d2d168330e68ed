/**
 * `npx tsc -p tsconfig.json && node dist/bench/snapshot/offsite-download.js`: only the download rows of the offsite bench, without building a
 * database: BENCH_OFFSITE_MB (default 1454) of random bytes in 31 files shaped like the 1 GB
 * snapshot's (a few large table files, many small ones), pushed once (plain and encrypted) to a
 * loopback Swift, then downloaded BENCH_OFFSITE_RUNS times (default 5) by plain GetObject, by
 * nfr's checked download and by nfr's encrypted one, the order rotating from run to run. For
 * iterating on the download path; bench:offsite remains the row of record.
 *
 * BENCH_OFFSITE_BASE=DIR also times the S3Repository compiled into DIR/src (another build of nfr,
 * e.g. main's) in the same rotation, for A/B comparisons under the same load.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { randomBytes, createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Manifest } from '../../src/snapshot/manifest.js';
import type { OffsiteRepository } from '../../src/snapshot/offsite/repository.js';
import { S3Repository } from '../../src/snapshot/offsite/s3-repository.js';
import { mapLimit } from '../../src/util/fs.js';
import { filesManifest } from '../../test/support/manifests.js';
import { TestSwift } from '../../test/support/swift.js';
import { median } from './report.js';

const BUCKET = 'nfr-bench';
const MIB = 1024 * 1024;
const log = (line: string) => process.stderr.write(`${line}\n`);

/** File sizes in MiB, shaped like the 1 GB snapshot's 31 files. */
function shape(totalMb: number): number[] {
  const large = [0.29, 0.26, 0.18, 0.12, 0.08, 0.04, 0.015, 0.006, 0.003];
  const sizes = large.map((f) => Math.max(1, Math.round(f * totalMb * MIB)));
  for (let i = 0; i < 22; i++) sizes.push(1024 + i * 37_000);
  return sizes;
}

async function writeSet(dir: string, totalMb: number): Promise<Manifest> {
  const files: { path: string; size: number; sha256: string }[] = [];
  for (const [i, size] of shape(totalMb).entries()) {
    const rel = `db/${3000 + i}.dat.gz`;
    const hash = createHash('sha256');
    await mkdir(path.join(dir, 'db'), { recursive: true });
    const out = createWriteStream(path.join(dir, rel));
    for (let left = size; left > 0; ) {
      const piece = randomBytes(Math.min(left, 4 * MIB));
      hash.update(piece);
      if (!out.write(piece)) await new Promise<void>((r) => out.once('drain', () => r()));
      left -= piece.length;
    }
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    files.push({ path: rel, size, sha256: hash.digest('hex') });
  }
  const manifest = filesManifest('SNAP-2026-0001', 'bench', files);
  await writeFile(path.join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

async function main(signal: AbortSignal): Promise<void> {
  const totalMb = Number(process.env.BENCH_OFFSITE_MB ?? 1454);
  const runs = Number(process.env.BENCH_OFFSITE_RUNS ?? 5);
  const baseDir = process.env.BENCH_OFFSITE_BASE;
  const root = await mkdtemp(path.join(tmpdir(), 'nfr-offsite-download-'));
  const swift = await TestSwift.start();
  try {
    await swift.createBucket(BUCKET);
    const env = swift.env(`s3://${BUCKET}`);
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY });
    const dir = path.join(root, 'SNAP-2026-0001');
    log(`writing ${totalMb} MiB in 31 files`);
    const manifest = await writeSet(dir, totalMb);
    const keyFile = path.join(root, 'repository.key');
    await writeFile(keyFile, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
    type Repo = new (cfg: ConstructorParameters<typeof S3Repository>[0]) => OffsiteRepository;
    const impls: [string, Repo][] = [['nfr', S3Repository]];
    if (baseDir) impls.push(['base', ((await import(path.resolve(baseDir, 'src/snapshot/offsite/s3-repository.js'))) as { S3Repository: Repo }).S3Repository]);
    const repo = (Impl: Repo, prefix: string, key: boolean) => new Impl({ bucket: BUCKET, prefix, endpoint: swift.endpoint, region: 'us-east-1', forcePathStyle: true, keyFile: key ? keyFile : undefined });
    log('pushing plain and encrypted');
    for (const [prefix, key] of [['plain', false], ['enc', true]] as const) {
      const r = repo(S3Repository, prefix, key);
      await r.push(dir, manifest);
      r.close();
    }
    const client = swift.client();
    /** A variant returning a number is timed by it (seconds), else by the wall clock. */
    const variants: [string, (into: string) => Promise<unknown>][] = [
      [
        'plain GET',
        (into) =>
          mapLimit(manifest.files, 4, async (f) => {
            const target = path.join(into, f.path);
            await mkdir(path.dirname(target), { recursive: true });
            const r = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: `plain/SNAP-2026-0001/${f.path}` }));
            await pipeline(r.Body as Readable, createWriteStream(target));
          }),
      ],
    ];
    const fetch = async (r: OffsiteRepository, into: string) => {
      try {
        await r.fetch('SNAP-2026-0001' as never, into);
      } finally {
        r.close();
      }
    };
    for (const [name, Impl] of impls) {
      variants.push([`${name} checked`, (into) => fetch(repo(Impl, 'plain', false), into)]);
      variants.push([`${name} encrypted`, (into) => fetch(repo(Impl, 'enc', true), into)]);
    }
    // BENCH_OFFSITE_UPLOADS=1 adds the upload rows: a plain lib-storage Upload, and nfr's encrypted
    // push timed up to its last object stored (what bench:offsite's "upload, encrypted" row times;
    // the read-back runs beside it) and whole.
    let pushes = 0;
    if (process.env.BENCH_OFFSITE_UPLOADS === '1') {
      variants.push([
        'plain upload',
        () => {
          const at = `up${++pushes}`;
          return mapLimit(manifest.files, 4, (f) => new Upload({ client, params: { Bucket: BUCKET, Key: `${at}/${f.path}`, Body: createReadStream(path.join(dir, f.path)) }, partSize: 8 * MIB, queueSize: 4 }).done());
        },
      ]);
      for (const [name, Impl] of impls) {
        variants.push([
          `${name} enc upload`,
          async () => {
            const r = repo(Impl, `push${++pushes}`, true);
            try {
              const result = await r.push(dir, manifest);
              log(`  ${name} encrypted push: upload ${(result.upload_ms / 1000).toFixed(2)} s + read-back tail ${(result.check_ms / 1000).toFixed(2)} s`);
              return result.upload_ms / 1000;
            } finally {
              r.close();
            }
          },
        ]);
      }
    }
    // BENCH_OFFSITE_ONLY=REGEX times only the variants it matches (e.g. under --cpu-prof).
    const only = new RegExp(process.env.BENCH_OFFSITE_ONLY ?? '.');
    variants.splice(0, variants.length, ...variants.filter(([n]) => only.test(n)));
    const times = new Map<string, number[]>(variants.map(([n]) => [n, []]));
    const loads: number[] = [];
    const profileDir = process.env.BENCH_OFFSITE_PROFILE;
    const profiler = profileDir ? new Session() : undefined;
    profiler?.connect();
    for (let run = 0; run < runs && !signal.aborted; run++) {
      const order = variants.map((_, i) => variants[(i + run) % variants.length] as (typeof variants)[number]);
      if (run % 2 === 1) order.reverse();
      const line: string[] = [];
      for (const [name, fn] of order) {
        const into = path.join(root, `down-${run}`);
        const t0 = performance.now();
        const cpu0 = process.cpuUsage();
        const elu0 = performance.eventLoopUtilization();
        // BENCH_OFFSITE_PROFILE=DIR: a CPU profile of the main thread per variant and run, into DIR.
        if (profiler) {
          await profiler.post('Profiler.enable');
          await profiler.post('Profiler.start');
        }
        const own = await fn(into);
        if (profiler && profileDir) {
          const { profile } = await profiler.post('Profiler.stop');
          await writeFile(path.join(profileDir, `${name.replace(/\W+/g, '-')}-${run + 1}.cpuprofile`), JSON.stringify(profile));
        }
        const s = typeof own === 'number' ? own : (performance.now() - t0) / 1000;
        const cpu = process.cpuUsage(cpu0);
        const elu = performance.eventLoopUtilization(elu0);
        times.get(name)?.push(s);
        line.push(`${name} ${s.toFixed(2)} s (cpu ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, loop ${(elu.utilization * 100).toFixed(0)} %)`);
        await rm(into, { recursive: true, force: true });
      }
      loads.push(loadavg()[0] ?? 0);
      log(`run ${run + 1}: ${line.join('; ')} (load ${loads.at(-1)?.toFixed(1)})`);
    }
    client.destroy();
    const plain = median(times.get('plain GET') ?? [Number.NaN]);
    process.stdout.write(`medians of ${runs} runs, ${totalMb} MiB, load ${Math.min(...loads).toFixed(1)}-${Math.max(...loads).toFixed(1)}\n`);
    for (const [name, t] of times) process.stdout.write(`  ${name.padEnd(16)} ${median(t).toFixed(2)} s  ${(median(t) / plain).toFixed(2)}x  [${t.map((x) => x.toFixed(2)).join(' ')}]\n`);
  } finally {
    await swift.stop();
    await rm(root, { recursive: true, force: true });
  }
}

// An interrupted run still stops its Swift (main's finally) rather than leaving it running.
const stopping = new AbortController();
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => stopping.abort());
await main(stopping.signal);
