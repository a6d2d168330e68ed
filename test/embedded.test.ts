/**
 * The embedded default: with no DATABASE_URL, nfr runs its own cluster under ./.nfr, started on
 * demand, reused across commands, stopped with `nfr db stop` (and as root, run by `postgres`).
 */
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import pg from 'pg';
import { embeddedHome, nfr, nfrJson, testEnv } from './support/cli.js';

const { cwd, env } = embeddedHome('nfr-embedded-');

it('runs migrate, snapshot and list on its own cluster under ./.nfr, and stops it', async () => {
  const migrated = await nfrJson(['db', 'migrate'], env, cwd);
  assert.equal(migrated.code, 0, migrated.stderr);
  assert.deepEqual(migrated.body.applied, ['0001_initial-schema', '0002_drop-record-hash', '0003_uploads-in-control-database', '0004_history-time-indexes']);
  const data = statSync(path.join(cwd, '.nfr', 'pg', 'data', 'PG_VERSION'));
  if (process.getuid?.() === 0) assert.notEqual(data.uid, 0, 'as root, the cluster belongs to an unprivileged user');

  const status = await nfrJson(['db', 'status'], env, cwd);
  assert.equal(status.body.embedded, true);
  assert.equal(status.body.schema_version, '0004_history-time-indexes');
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
  assert.equal(again.body.schema_version, '0004_history-time-indexes');
});

it('prints the live database URL with the password redacted, and opens psql on it', async () => {
  const url = await nfrJson(['db', 'url'], env, cwd);
  assert.equal(url.code, 0, url.stderr);
  const passwordFile = path.join(cwd, '.nfr', 'pg', 'password');
  const password = readFileSync(passwordFile, 'utf8').trim();
  assert.equal(url.body.embedded, true);
  assert.equal(url.body.password_file, passwordFile);
  assert.match(url.body.url, /^postgresql:\/\/nfr:\*\*\*@127\.0\.0\.1:\d+\/nfr$/);
  assert.ok(!JSON.stringify(url.body).includes(password), 'the password is redacted');
  const text = await nfr(['db', 'url'], env, cwd);
  assert.match(text.stdout, new RegExp(`password in ${passwordFile}`));

  const shown = await nfrJson(['db', 'url', '--show-password'], env, cwd);
  const client = new pg.Client({ connectionString: shown.body.url });
  await client.connect();
  try {
    assert.equal((await client.query('select current_database() as d')).rows[0]?.d, 'nfr');
  } finally {
    await client.end();
  }

  const psql = await nfr(['db', 'psql', '--', '-At', '-c', 'select current_database(), current_user'], env, cwd);
  assert.equal(psql.code, 0, psql.stderr);
  assert.equal(psql.stdout.trim(), 'nfr|nfr');
  // psql's own exit code comes back.
  const failing = await nfr(['db', 'psql', '--', '-v', 'ON_ERROR_STOP=1', '-c', 'select 1/0'], env, cwd);
  assert.equal(failing.code, 1);
  assert.match(failing.stderr, /division by zero/);
});

it('prints DATABASE_URL redacted, without a password file', async () => {
  const external = testEnv({ DATABASE_URL: 'postgresql://ops:s3cret%3Ax@db.example:5433/risk?sslmode=require' });
  const url = await nfrJson(['db', 'url'], external, cwd);
  assert.equal(url.code, 0, url.stderr);
  assert.deepEqual(
    { url: url.body.url, embedded: url.body.embedded, password_file: url.body.password_file },
    { url: 'postgresql://ops:***@db.example:5433/risk?sslmode=require', embedded: false, password_file: null },
  );
  const shown = await nfrJson(['db', 'url', '--show-password'], external, cwd);
  assert.equal(shown.body.url, 'postgresql://ops:s3cret%3Ax@db.example:5433/risk?sslmode=require');
});
