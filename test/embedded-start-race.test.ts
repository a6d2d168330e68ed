/**
 * Two commands at once on the embedded default: a script that runs `nfr` commands in parallel on
 * a fresh machine (or after `nfr db stop`) must not fail one of them with "could not start the
 * PostgreSQL cluster … another server might be running" (exit 10), nor let a second initdb remove
 * the data directory the first is creating. They start it once, under a lock, and share it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { embeddedHome, nfrJson } from './support/cli.js';

const { cwd, env } = embeddedHome('nfr-start-race-');

async function together(n: number): Promise<string[]> {
  const runs = await Promise.all(Array.from({ length: n }, () => nfrJson(['db', 'status'], env, cwd)));
  for (const r of runs) assert.equal(r.code, 0, `${JSON.stringify(r.body)}\n${r.stderr}`);
  return runs.map((r) => r.body.server as string);
}

it('three commands at once create and start one cluster, and start it again together after db stop', async () => {
  const first = await together(3);
  assert.equal(new Set(first).size, 1, `one server: ${first.join(', ')}`);
  assert.match(first[0] as string, /^127\.0\.0\.1:\d+$/);
  assert.ok(!existsSync(path.join(cwd, '.nfr', 'pg', 'start.lock')), 'the start lock is released');

  const stopped = await nfrJson(['db', 'stop'], env, cwd);
  assert.equal(stopped.body.stopped, true, stopped.stderr);
  const again = await together(3);
  assert.equal(new Set(again).size, 1, `one server: ${again.join(', ')}`);
  const migrated = await nfrJson(['db', 'migrate'], env, cwd);
  assert.equal(migrated.code, 0, migrated.stderr);
});
