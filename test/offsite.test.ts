/**
 * The offsite repository against a real object store: OpenStack Swift with s3api, started by the
 * harness (test/support/swift.ts). Round trips to a second home with an empty backup directory,
 * encryption (wrong and missing keys, a flipped byte in the bucket), kills and outages in the
 * middle of an upload, delete and prune of both copies, configuration failures, shared buckets.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { randomBytes } from 'node:crypto';
import { Readable, Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { CHUNK_BYTES, decryptStream, encryptedSize, encryptStream } from '../src/snapshot/offsite/encryption.js';
import { nfr, nfrJson, spawnNfr, testEnv, waitForExit, waitForStderr, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { fingerprint, mutate, withUrl } from './support/data.js';
import { freshDatabase, seededDatabase } from './support/setup.js';
import { TestSwift } from './support/swift.js';

let swift: TestSwift;
let keyFile: string;
let otherKeyFile: string;
let buckets = 0;

const cluster = fileCluster(async () => {
  const keys = cluster.tempDir('keys');
  keyFile = path.join(keys, 'repository.key');
  otherKeyFile = path.join(keys, 'other.key');
  await writeFile(keyFile, 'correct horse battery staple, offsite\n', { mode: 0o600 });
  await writeFile(otherKeyFile, `${'ab'.repeat(32)}\n`, { mode: 0o600 });
});

// The object store starts beside the cluster: a file's top-level before() hooks start together.
before(async () => {
  swift = await TestSwift.start();
});

after(async () => {
  await swift?.stop();
});

/** A fresh bucket for one test. */
async function bucket(): Promise<string> {
  const name = `nfr-offsite-${process.pid}-${++buckets}`;
  await swift.createBucket(name);
  return name;
}

/** A home: its own database (seeded unless `empty`) and backup directory, on the shared repository. */
async function home(prefix: string, repository: string, extra: Env = {}, empty = false): Promise<{ url: string; env: Env; backups: string }> {
  const options = { env: { ...swift.env(repository), NFR_REPOSITORY_KEY_FILE: keyFile, ...extra } };
  return empty ? freshDatabase(cluster, prefix, options) : seededDatabase(cluster, prefix, { ...options, controls: 300 });
}

async function keys(bucketName: string, prefix = ''): Promise<string[]> {
  const client = swift.client();
  try {
    const r = await client.send(new ListObjectsV2Command({ Bucket: bucketName, Prefix: prefix }));
    return (r.Contents ?? []).map((o) => o.Key ?? '').sort();
  } finally {
    client.destroy();
  }
}

async function listed(env: Env): Promise<Map<string, string>> {
  const r = await nfrJson(['snapshot', 'list'], env);
  assert.equal(r.code, 0, r.stderr);
  return new Map(r.body.snapshots.map((s: { id: string; location: string }) => [s.id, s.location]));
}

/** Runs `input` through a stream and collects the output (or the error). */
async function through(stream: Transform, input: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from([input.subarray(0, 100), input.subarray(100)]), stream, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}

describe('offsite encryption stream', () => {
  it('round-trips every size, and refuses a flipped bit, a dropped or swapped chunk, a cut-off end and another key', async () => {
    const key = randomBytes(32);
    for (const size of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 5]) {
      const plain = randomBytes(size);
      const sealed = await through(encryptStream(key), plain);
      assert.equal(sealed.length, encryptedSize(size), `size ${size}`);
      assert.deepEqual(await through(decryptStream(key, 'x'), sealed), plain, `size ${size}`);
    }
    const plain = randomBytes(3 * CHUNK_BYTES + 5);
    const sealed = await through(encryptStream(key), plain);
    const chunk = 1 + 12 + 4 + CHUNK_BYTES + 16;
    const header = 8;
    const flipped = Buffer.from(sealed);
    flipped[header + chunk + 500]! ^= 0x04;
    const swapped = Buffer.concat([sealed.subarray(0, header), sealed.subarray(header + chunk, header + 2 * chunk), sealed.subarray(header, header + chunk), sealed.subarray(header + 2 * chunk)]);
    const dropped = Buffer.concat([sealed.subarray(0, header + chunk), sealed.subarray(header + 2 * chunk)]);
    const cut = sealed.subarray(0, header + 3 * chunk);
    for (const [what, data, k] of [['flipped', flipped, key], ['swapped', swapped, key], ['dropped', dropped, key], ['cut', cut, key], ['other key', sealed, randomBytes(32)]] as const) {
      await assert.rejects(through(decryptStream(k, 'db/1.dat'), data), (err: Error) => /db\/1\.dat: .*(authentication|truncated)/.test(err.message), what);
    }
  });
});

describe('offsite repository on Swift', () => {
  it('round trip: an encrypted snapshot is restored by a second home with an empty backup directory', async () => {
    const b = await bucket();
    const a = await home('rta', `s3://${b}/team/nfr`);
    const expected = await fingerprint(a.url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'offsite round trip'], a.env);
    assert.equal(created.code, 0, created.stderr);
    assert.doesNotMatch(created.stderr, /NodeVersionSupportWarning/);
    const id = created.body.id as string;
    assert.equal(created.body.offsite.status, 'completed', created.body.offsite.error);
    assert.equal(created.body.offsite.push.encrypted, true);
    const fp = created.body.offsite.push.key_fingerprint as string;
    assert.match(fp, /^[0-9a-f]{32}$/);

    // In the bucket: every file under <prefix>/<id>/, manifest included; files encrypted.
    const stored = await keys(b, `team/nfr/${id}/`);
    assert.ok(stored.includes(`team/nfr/${id}/manifest.json`));
    assert.equal(stored.length, created.body.files.length + 1);
    const client = swift.client();
    const toc = await client.send(new GetObjectCommand({ Bucket: b, Key: `team/nfr/${id}/db/toc.dat` }));
    const head = Buffer.from(await toc.Body!.transformToByteArray()).subarray(0, 8).toString();
    client.destroy();
    assert.equal(head, 'NFRGCM01');
    // The local archive stays a plain pg_dump directory.
    assert.ok(existsSync(path.join(a.backups, id, 'db', 'toc.dat')));
    assert.equal((await listed(a.env)).get(id), 'both');

    const verified = await nfrJson(['snapshot', 'verify', '--id', id, '--offsite'], a.env);
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(verified.body.ok, true);
    assert.equal(verified.body.files_checked, created.body.files.length);

    // The second home: another database, an empty backup directory, the same bucket and key.
    const bHome = await home('rtb', `s3://${b}/team/nfr`, {}, true);
    assert.deepEqual(await readdir(bHome.backups), []);
    const seen = await nfrJson(['snapshot', 'show', '--id', id], bHome.env);
    assert.equal(seen.code, 0, seen.stderr);
    assert.equal(seen.body.location, 'offsite');
    assert.equal((await listed(bHome.env)).get(id), 'offsite');
    const restored = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], bHome.env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await fingerprint(bHome.url), expected);
    assert.equal((await listed(bHome.env)).get(id), 'both');
  });

  it('refuses a restore with a missing or wrong key before the live database is touched, naming the fingerprint', async () => {
    const b = await bucket();
    const a = await home('keya', `s3://${b}`);
    const created = await nfrJson(['snapshot', 'create', '--name', 'keyed'], a.env);
    assert.equal(created.code, 0, created.stderr);
    const id = created.body.id as string;
    const fp = created.body.offsite.push.key_fingerprint as string;

    for (const key of [otherKeyFile, undefined]) {
      const other = await home('keyb', `s3://${b}`, { NFR_REPOSITORY_KEY_FILE: key });
      await mutate(other.url);
      const before = await fingerprint(other.url);
      const r = await nfr(['snapshot', 'restore', '--id', id, '--yes'], other.env);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`fingerprint ${fp}`));
      assert.deepEqual(await fingerprint(other.url), before);
      assert.deepEqual((await readdir(other.backups)).filter((n) => n.startsWith('SNAP-')), []);
    }
  });

  it('a flipped byte in the bucket fails verify --offsite and refuses the restore', async () => {
    const b = await bucket();
    const a = await home('flip', `s3://${b}`);
    const created = await nfrJson(['snapshot', 'create', '--name', 'to be damaged'], a.env);
    assert.equal(created.code, 0, created.stderr);
    const id = created.body.id as string;
    const dat = (created.body.files as { path: string; size: number }[]).filter((f) => f.path.endsWith('.dat')).sort((x, y) => y.size - x.size)[0]!;
    const client = swift.client();
    const key = `${id}/${dat.path}`;
    const body = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: b, Key: key }))).Body!.transformToByteArray());
    body[Math.floor(body.length / 2)]! ^= 0x01;
    await client.send(new PutObjectCommand({ Bucket: b, Key: key, Body: body }));
    client.destroy();

    const verified = await nfrJson(['snapshot', 'verify', '--id', id, '--offsite'], a.env);
    assert.equal(verified.code, 6, verified.stderr);
    assert.equal(verified.body.ok, false);
    assert.ok(verified.body.problems.some((p: string) => p.startsWith(dat.path)), verified.body.problems.join('\n'));

    const other = await home('flipb', `s3://${b}`);
    const before = await fingerprint(other.url);
    const r = await nfr(['snapshot', 'restore', '--id', id, '--yes'], other.env);
    assert.equal(r.code, 6, r.stderr);
    assert.match(r.stderr, new RegExp(dat.path.replace('.', '\\.')));
    assert.deepEqual(await fingerprint(other.url), before);
    assert.ok(!existsSync(path.join(other.backups, id)));
  });

  it('an object larger than a part (one streamed GET; ranges are in offsite-read-paths.test.ts): checked, restored, and a flipped byte or an appended tail refused', async () => {
    const b = await bucket();
    const a = await home('big', `s3://${b}`);
    // About 30 MB of random hex: its dump file stays well above the 8 MiB part after -Z1.
    await withUrl(a.url, (c) => c.query("create table bulk as select g as n, md5(random()::text) || md5(random()::text) as h from generate_series(1, 500000) g"));
    const expected = await fingerprint(a.url);
    const created = await nfrJson(['snapshot', 'create', '--name', 'large objects'], a.env);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.body.offsite.status, 'completed', created.body.offsite.error);
    const id = created.body.id as string;
    const big = (created.body.files as { path: string; size: number }[]).sort((x, y) => y.size - x.size)[0]!;
    assert.ok(big.size > 3 * 8 * 1024 * 1024, `the largest file is ${big.size} bytes`);

    const other = await home('bigb', `s3://${b}`, {}, true);
    const restored = await nfrJson(['snapshot', 'restore', '--id', id, '--yes', '--skip-backup'], other.env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await fingerprint(other.url), expected);

    const client = swift.client();
    const key = `${id}/${big.path}`;
    const original = Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: b, Key: key }))).Body!.transformToByteArray());
    const damage = async (body: Buffer, what: RegExp) => {
      await client.send(new PutObjectCommand({ Bucket: b, Key: key, Body: body }));
      const verified = await nfrJson(['snapshot', 'verify', '--id', id, '--offsite'], a.env);
      assert.equal(verified.code, 6, verified.stderr);
      const problem = (verified.body.problems as string[]).find((p) => p.startsWith(big.path));
      assert.match(problem ?? verified.body.problems.join('\n'), what);
    };
    try {
      // Well past the first 16 MiB: damage the read meets only after much of the object went through.
      const flipped = Buffer.from(original);
      flipped[2 * 8 * 1024 * 1024 + 12345]! ^= 0x01;
      await damage(flipped, /authentication/);
      await damage(Buffer.concat([original, Buffer.from('tail')]), new RegExp(`size ${original.length + 4} bytes in the store, ${original.length} expected`));
      await damage(original.subarray(0, original.length - 1), new RegExp(`size ${original.length - 1} bytes in the store`));
      await client.send(new PutObjectCommand({ Bucket: b, Key: key, Body: original }));
      const verified = await nfrJson(['snapshot', 'verify', '--id', id, '--offsite'], a.env);
      assert.equal(verified.code, 0, verified.stderr);
      assert.equal(verified.body.ok, true);
    } finally {
      client.destroy();
    }
  });

  it('SIGKILL during an upload: never listed offsite anywhere; the next push completes it', async () => {
    const b = await bucket();
    const a = await home('kill', `s3://${b}`);
    const child = spawnNfr(['snapshot', 'create', '--name', 'killed upload', '--json'], { ...a.env, NFR_FAULT_POINT: 'offsite-uploaded' });
    child.stdin.end();
    await waitForStderr(child, /nfr-fault-point: offsite-uploaded/);
    child.kill('SIGKILL');
    await waitForExit(child);
    const local = (await readdir(a.backups)).filter((n) => n.startsWith('SNAP-'));
    assert.equal(local.length, 1);
    const id = local[0]!;
    assert.ok((await keys(b, `${id}/`)).length > 0, 'objects were uploaded before the kill');

    const elsewhere = await home('killb', `s3://${b}`, {}, true);
    assert.equal((await listed(elsewhere.env)).has(id), false);
    assert.equal((await listed(a.env)).get(id), 'local');

    const pushed = await nfrJson(['snapshot', 'push', '--id', id], a.env);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(pushed.body.uploaded, true);
    assert.equal((await listed(elsewhere.env)).get(id), 'offsite');
    const again = await nfrJson(['snapshot', 'push', '--id', id], a.env);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.body.uploaded, false);
  });

  it('the store stopped in the middle of a create: the snapshot stays completed, not offsite, health says so, push later succeeds', async () => {
    const b = await bucket();
    const a = await home('outage', `s3://${b}`, { NFR_OFFSITE_MAX_DELAY: '1s' });
    const child = spawnNfr(['snapshot', 'create', '--name', 'during an outage', '--json'], { ...a.env, NFR_FAULT_POINT: 'offsite-uploaded:hold' });
    child.stdin.end();
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    await waitForStderr(child, /nfr-fault-point: offsite-uploaded/);
    await swift.stopProxy();
    let id: string;
    try {
      child.kill('SIGUSR2');
      assert.equal(await waitForExit(child), 0);
      const body = JSON.parse(stdout);
      id = body.id;
      assert.equal(body.status, 'completed');
      assert.equal(body.offsite.status, 'failed');
      assert.match(body.offsite.error, new RegExp(`nfr snapshot push --id ${id}`));
      assert.ok(existsSync(path.join(a.backups, id, 'manifest.json')));

      const list = await nfrJson(['snapshot', 'list'], a.env);
      assert.equal(list.code, 0, list.stderr);
      assert.equal(list.body.snapshots.find((s: { id: string }) => s.id === id)?.location, 'local');
      assert.match(list.body.offsite.error, /does not answer/);
      const push = await nfr(['snapshot', 'push', '--id', id], a.env);
      assert.equal(push.code, 16, push.stderr);
      assert.match(push.stderr, new RegExp(`s3://${b} at ${swift.endpoint}`));
    } finally {
      await swift.startProxy();
    }
    const health = await nfrJson(['snapshot', 'health'], a.env);
    assert.equal(health.code, 8, health.stderr);
    const offsite = health.body.checks.find((c: { name: string }) => c.name === 'offsite');
    assert.equal(offsite.status, 'unhealthy');
    assert.deepEqual(offsite.value.overdue, [id]);

    const pushed = await nfrJson(['snapshot', 'push', '--id', id], a.env);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal((await listed(a.env)).get(id), 'both');
    const healthy = await nfrJson(['snapshot', 'health'], a.env);
    assert.equal(healthy.body.checks.find((c: { name: string }) => c.name === 'offsite').status, 'healthy');
  });

  it('delete and prune remove both copies', async () => {
    const b = await bucket();
    const a = await home('del', `s3://${b}/p`, { NFR_RETENTION_DAILY: '1', NFR_RETENTION_WEEKLY: '0', NFR_RETENTION_MONTHLY: '0' });
    const ids: string[] = [];
    for (const name of ['one', 'two', 'three']) {
      const c = await nfrJson(['snapshot', 'create', '--name', name], a.env);
      assert.equal(c.code, 0, c.stderr);
      assert.equal(c.body.offsite.status, 'completed');
      ids.push(c.body.id);
    }
    const deleted = await nfrJson(['snapshot', 'delete', '--id', ids[2]!, '--yes'], a.env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.deepEqual(await keys(b, `p/${ids[2]}/`), []);
    assert.ok(!existsSync(path.join(a.backups, ids[2]!)));

    const pruned = await nfrJson(['snapshot', 'prune', '--yes'], a.env);
    assert.equal(pruned.code, 0, pruned.stderr);
    assert.deepEqual(pruned.body.deleted.map((d: { id: string }) => d.id), [ids[0]]);
    assert.deepEqual(await keys(b, `p/${ids[0]}/`), []);
    assert.ok(!existsSync(path.join(a.backups, ids[0]!)));
    assert.deepEqual([...(await listed(a.env)).entries()], [[ids[1], 'both']]);
  });

  it('NFR_LOCAL_KEEP keeps the newest local copies (and pinned ones); an evicted one is refused by a local verify with where it is, fetched back by warm; the pre-restore backup goes offsite', async () => {
    const b = await bucket();
    const a = await home('keep', `s3://${b}`, { NFR_LOCAL_KEEP: '1' });
    const first = await nfrJson(['snapshot', 'create', '--name', 'oldest'], a.env);
    assert.equal(first.code, 0, first.stderr);
    const oldestData = await fingerprint(a.url);
    const pinned = await nfrJson(['snapshot', 'create', '--name', 'kept', '--tag', 'pinned'], a.env);
    await mutate(a.url);
    const newest = await nfrJson(['snapshot', 'create', '--name', 'newest'], a.env);
    assert.equal(newest.code, 0, newest.stderr);
    assert.deepEqual(newest.body.offsite.evicted, [first.body.id]);
    const where = await listed(a.env);
    assert.equal(where.get(first.body.id), 'offsite');
    assert.equal(where.get(pinned.body.id), 'both');
    assert.equal(where.get(newest.body.id), 'both');
    assert.ok(!existsSync(path.join(a.backups, first.body.id)));

    // Verifying the local copy of a snapshot that is only offsite says where it is and what to do.
    const local = await nfr(['snapshot', 'verify', '--id', first.body.id], a.env);
    assert.equal(local.code, 20, local.stderr);
    assert.match(local.stderr, new RegExp(`${first.body.id} is not on local disk: its only copy is in the offsite repository s3://${b} at ${swift.endpoint}`));
    assert.match(local.stderr, new RegExp(`nfr snapshot verify --id ${first.body.id} --offsite`));
    // Warming it fetches it back first, as a restore does (and a warm copy stays local).
    const warmed = await nfrJson(['snapshot', 'warm', '--id', first.body.id], a.env);
    assert.equal(warmed.code, 0, warmed.stderr);
    assert.equal(warmed.body.fetched, true);
    assert.equal(warmed.body.created, true);
    assert.equal((await listed(a.env)).get(first.body.id), 'both');
    const checked = await nfrJson(['snapshot', 'verify', '--id', first.body.id], a.env);
    assert.equal(checked.code, 0, checked.stderr);

    // The restore's pre-restore backup goes through the same create path, so offsite too.
    const current = await fingerprint(a.url);
    const restored = await nfrJson(['snapshot', 'restore', '--id', first.body.id, '--yes'], a.env);
    assert.equal(restored.code, 0, restored.stderr);
    assert.deepEqual(await fingerprint(a.url), oldestData);
    const backup = restored.body.pre_restore_backup_id as string;
    assert.match(backup, /^SNAP-/, restored.body.pre_restore_backup_error ?? '');
    const stored = await keys(b, `${backup}/`);
    assert.ok(stored.includes(`${backup}/manifest.json`), stored.join(' '));
    assert.ok(stored.some((k) => k.endsWith('/toc.dat')), stored.join(' '));
    assert.equal((await listed(a.env)).get(backup), 'both');
    const remote = await nfrJson(['snapshot', 'verify', '--id', backup, '--offsite'], a.env);
    assert.equal(remote.code, 0, remote.stderr);
    assert.equal(remote.body.files_checked, stored.length - 1);
    // And the bucket's copy holds the state the restore replaced: back into a home of its own.
    const elsewhere = await home('keepb', `s3://${b}`, {}, true);
    const back = await nfrJson(['snapshot', 'restore', '--id', backup, '--yes', '--skip-backup'], elsewhere.env);
    assert.equal(back.code, 0, back.stderr);
    assert.deepEqual(await fingerprint(elsewhere.url), current);
  });

  it('two homes sharing the bucket but not the directory never hand out the same id', async () => {
    const b = await bucket();
    const db = await seededDatabase(cluster, 'shared', { controls: 50 });
    const envFor = (name: string) => testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir(`${name}-backups`), NFR_HOME: cluster.tempDir(`${name}-home`), ...swift.env(`s3://${b}`), NFR_LOCK_WAIT_SECONDS: '120' });
    const one = envFor('one');
    const two = envFor('two');
    const created = await Promise.all([one, two, one, two].map((env, i) => nfrJson(['snapshot', 'create', '--name', `shared ${i}`], env)));
    for (const c of created) assert.equal(c.code, 0, c.stderr);
    const ids = created.map((c) => c.body.id as string);
    assert.equal(new Set(ids).size, 4, ids.join(' '));
    const all = await listed(one);
    for (const id of ids) assert.ok(all.has(id), id);
  });

  it('a missing bucket, an endpoint that does not answer and refused credentials: distinct codes naming bucket and endpoint, never the secret', async () => {
    const b = await bucket();
    const a = await home('cfg', `s3://${b}`);
    const created = await nfrJson(['snapshot', 'create', '--name', 'for push'], { ...a.env, NFR_S3_REPOSITORY: undefined });
    assert.equal(created.code, 0, created.stderr);
    const id = created.body.id as string;

    const missing = await nfr(['snapshot', 'push', '--id', id], { ...a.env, NFR_S3_REPOSITORY: 's3://nfr-no-such-bucket' });
    assert.equal(missing.code, 18, missing.stderr);
    assert.match(missing.stderr, /nfr-no-such-bucket/);
    assert.match(missing.stderr, new RegExp(swift.endpoint));

    const down = await nfr(['snapshot', 'push', '--id', id], { ...a.env, AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    assert.equal(down.code, 16, down.stderr);
    assert.match(down.stderr, new RegExp(`s3://${b} at http://127.0.0.1:9`));

    const secret = 'not-the-secret-0123456789';
    const refused = await nfr(['snapshot', 'push', '--id', id], { ...a.env, AWS_SECRET_ACCESS_KEY: secret });
    assert.equal(refused.code, 17, refused.stderr);
    assert.match(refused.stderr, new RegExp(b));
    assert.doesNotMatch(refused.stderr + refused.stdout, new RegExp(secret));
    // HEAD's 403 has no body, so no error code: the status is named, not the SDK's "Unknown".
    assert.match(refused.stderr, /refused the credentials \((HTTP 403|[A-Za-z]+)\)/);
    assert.doesNotMatch(refused.stderr, /Unknown/);

    const serve = await nfr(['serve', '--port', '0'], { ...a.env, NFR_S3_REPOSITORY: 's3://nfr-no-such-bucket' });
    assert.equal(serve.code, 18, serve.stderr);
    assert.doesNotMatch(serve.stderr, /NodeVersionSupportWarning/);
  });
});
