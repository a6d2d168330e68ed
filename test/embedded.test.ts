/**
 * The embedded default: with no DATABASE_URL, nfr runs its own cluster under ./.nfr, started on
 * demand, reused across commands, stopped with `nfr db stop` (and as root, run by `postgres`).
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, it } from 'node:test';
import { nfr, nfrJson, testEnv } from './support/cli.js';

const cwd = mkdtempSync(path.join(tmpdir(), 'nfr-embedded-'));
chmodSync(cwd, 0o755);
const env = testEnv({});

after(async () => {
  await nfr(['db', 'stop'], env, cwd);
  rmSync(cwd, { recursive: true, force: true });
});

it('runs migrate, snapshot and list on its own cluster under ./.nfr, and stops it', async () => {
  const migrated = await nfrJson(['db', 'migrate'], env, cwd);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.deepEqual(migrated.body.applied, ['0001_initial-schema', '0002_drop-record-hash']);
  const data = statSync(path.join(cwd, '.nfr', 'pg', 'data', 'PG_VERSION'));
  if (process.getuid?.() === 0) assert.notEqual(data.uid, 0, 'as root, the cluster belongs to an unprivileged user');

  const status = await nfrJson(['db', 'status'], env, cwd);
  assert.equal(status.body.embedded, true);
  assert.equal(status.body.schema_version, '0002_drop-record-hash');
  assert.equal(status.body.up_to_date, true);
  assert.match(status.body.server, /^127\.0\.0\.1:\d+$/);

  const created = await nfrJson(['snapshot', 'create', '--name', 'embedded'], env, cwd);
  assert.equal(created.code, 0, created.stderr);
  assert.ok(statSync(path.join(cwd, '.nfr', 'backups', created.body.id, 'manifest.json')).isFile());
  const list = await nfrJson(['snapshot', 'list'], env, cwd);
  assert.deepEqual(list.body.snapshots.map((s: { id: string }) => s.id), [created.body.id]);

  const stopped = await nfrJson(['db', 'stop'], env, cwd);
  assert.equal(stopped.body.stopped, true);
  // The next command starts it again on demand, with the data intact.
  const again = await nfrJson(['db', 'status'], env, cwd);
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.body.schema_version, '0002_drop-record-hash');
});
