/**
 * The two ways an offsite object comes down (s3-repository.ts readObject): one streamed GET (every
 * object up to 1 GiB) and ranged GETs (larger ones; here forced with a small threshold), each for
 * plain and encrypted objects against the loopback Swift: the files written are the ones pushed,
 * and a byte flipped in the middle, a tail appended or an end cut off in the bucket is refused
 * with VERIFY_FAILED naming the object, by verify and by fetch.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { NfrError } from '../src/errors.js';
import type { SnapshotId } from '../src/snapshot/ids.js';
import type { Manifest } from '../src/snapshot/manifest.js';
import { S3Repository } from '../src/snapshot/offsite/s3-repository.js';
import { filesManifest } from './support/manifests.js';
import { TestSwift } from './support/swift.js';

const BUCKET = 'nfr-read-paths';
const ID = 'SNAP-2026-0001' as SnapshotId;
const MIB = 1024 * 1024;
/** A file of three 8 MiB parts and a bit (a ranged read of four parts), one of one part, a small one and an empty one. */
const FILES = [
  { path: 'db/3001.dat.gz', size: 3 * 8 * MIB + 12_345 },
  { path: 'db/3002.dat.gz', size: 9 * MIB },
  { path: 'db/toc.dat', size: 1_000 },
  { path: 'db/3003.dat.gz', size: 0 },
];
const BIG = FILES[0]!.path;

let swift: TestSwift;
let client: S3Client;
let root: string;
let source: string;
let keyFile: string;
let manifest: Manifest;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function repository(prefix: string, encrypted: boolean, wholeGetBytes?: number): S3Repository {
  return new S3Repository({ bucket: BUCKET, prefix, endpoint: swift.endpoint, region: 'us-east-1', forcePathStyle: true, keyFile: encrypted ? keyFile : undefined }, { wholeGetBytes });
}

before(async () => {
  swift = await TestSwift.start();
  await swift.createBucket(BUCKET);
  const env = swift.env(`s3://${BUCKET}`);
  Object.assign(process.env, { AWS_ACCESS_KEY_ID: env.AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY: env.AWS_SECRET_ACCESS_KEY });
  client = swift.client();
  root = await mkdtemp(path.join(tmpdir(), 'nfr-read-paths-'));
  keyFile = path.join(root, 'repository.key');
  await writeFile(keyFile, `${'5a'.repeat(32)}\n`, { mode: 0o600 });
  source = path.join(root, ID);
  await mkdir(path.join(source, 'db'), { recursive: true });
  const files = [];
  for (const f of FILES) {
    const bytes = randomBytes(f.size);
    await writeFile(path.join(source, f.path), bytes);
    files.push({ ...f, sha256: sha(bytes) });
  }
  manifest = filesManifest(ID, 'read paths', files);
  await writeFile(path.join(source, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  for (const [prefix, encrypted] of [['plain', false], ['enc', true]] as const) {
    const r = repository(prefix, encrypted);
    try {
      await r.push(source, manifest);
    } finally {
      r.close();
    }
  }
});

after(async () => {
  client?.destroy();
  await swift?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

const paths = [
  ['one GET per object', undefined],
  ['ranged GETs', 0],
] as const;

for (const [encrypted, prefix] of [
  [false, 'plain'],
  [true, 'enc'],
] as const) {
  describe(`offsite read paths, ${encrypted ? 'encrypted' : 'plain'} objects`, () => {
    for (const [name, wholeGetBytes] of paths) {
      it(`${name}: every file comes down as it was pushed`, async () => {
        const into = path.join(root, `down-${prefix}-${wholeGetBytes ?? 'whole'}`);
        const r = repository(prefix, encrypted, wholeGetBytes);
        try {
          await r.fetch(ID, into);
        } finally {
          r.close();
        }
        for (const f of manifest.files) {
          const got = await readFile(path.join(into, f.path));
          assert.equal(got.length, f.size, f.path);
          assert.equal(sha(got), f.sha256, f.path);
        }
      });
    }

    it('a byte flipped in the middle, a tail appended or an end cut off is refused by either path, by verify and by fetch', async () => {
      const key = `${prefix}/${ID}/${BIG}`;
      const original = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }))).Body!.transformToByteArray());
      const flipped = Buffer.from(original);
      // In the second half of the object: for ranged reads, in a part read after others.
      flipped[Math.floor(original.length * 0.6)]! ^= 0x01;
      const damages: [string, Buffer, RegExp][] = [
        ['flipped byte', flipped, encrypted ? /authentication/ : /SHA-256 [0-9a-f]{64} does not match/],
        ['appended tail', Buffer.concat([original, Buffer.from('tail')]), new RegExp(`size ${original.length + 4} bytes in the store, ${original.length} expected`)],
        ['cut-off end', original.subarray(0, original.length - 1), new RegExp(`size ${original.length - 1} bytes in the store, ${original.length} expected`)],
      ];
      try {
        for (const [what, body, problem] of damages) {
          await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
          for (const [name, wholeGetBytes] of paths) {
            const r = repository(prefix, encrypted, wholeGetBytes);
            try {
              const verified = await r.verify(ID);
              assert.equal(verified.ok, false, `${what}, ${name}`);
              assert.equal(verified.problems.length, 1, verified.problems.join('\n'));
              assert.ok(verified.problems[0]!.startsWith(`${BIG}: `), verified.problems[0]);
              assert.match(verified.problems[0]!, problem, `${what}, ${name}`);
              const into = path.join(root, `damaged-${prefix}-${wholeGetBytes ?? 'whole'}`);
              await assert.rejects(r.fetch(ID, into), (err: unknown) => err instanceof NfrError && err.code === 'VERIFY_FAILED' && err.message.includes(BIG), `${what}, ${name}`);
              await rm(into, { recursive: true, force: true });
            } finally {
              r.close();
            }
          }
        }
      } finally {
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: original }));
      }
      const r = repository(prefix, encrypted);
      try {
        assert.equal((await r.verify(ID)).ok, true);
      } finally {
        r.close();
      }
    });
  });
}
