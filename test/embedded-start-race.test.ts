/**
 * Two commands at once on the embedded default: a script that runs `nfr` commands in parallel on
 * a fresh machine (or after `nfr db stop`) must not fail one of them with "could not start the
 * PostgreSQL cluster … another server might be running" (exit 10), nor let a second initdb remove
 * the data directory the first is creating. They start it once, under a lock, and share it; a
 * lock left by a killed command is taken over by one of them.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { embeddedHome, nfrJson, spawnNfr, waitForStderr } from './support/cli.js';

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

it('a start lock left by a dead command is taken over by one command at a time', async () => {
  const stopped = await nfrJson(['db', 'stop'], env, cwd);
  assert.equal(stopped.code, 0, stopped.stderr);
  const lockFile = path.join(cwd, '.nfr', 'pg', 'start.lock');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  writeFileSync(lockFile, `${dead}\n`);

  // B finds the lock stale and stops while it holds the takeover guard; A, started then, finds it
  // stale too. Before the guard, A removed the dead lock and took it, and B, let go, removed A's
  // lock and ran initdb and pg_ctl beside it; now A waits until B has taken over and started.
  const b = spawnNfr(['db', 'status', '--json'], { ...env, NFR_FAULT_POINT: 'start-lock-takeover:hold' }, cwd);
  const bOut = collect(b);
  await waitForStderr(b, /nfr-fault-point: start-lock-takeover/);
  assert.equal(readFileSync(lockFile, 'utf8'), `${dead}\n`, 'the dead lock is still there while B holds the guard');
  const a = spawnNfr(['db', 'status', '--json'], env, cwd);
  const aOut = collect(a);
  await waitForStderr(a, new RegExp(`waiting for another nfr command that is taking over the start lock .*, left by pid ${dead}\n`));
  assert.equal(readFileSync(lockFile, 'utf8'), `${dead}\n`, 'A has not removed the dead lock under B');
  assert.equal(readFileSync(`${lockFile}.takeover`, 'utf8'), `${b.pid}\n`, 'B holds the guard');
  b.kill('SIGUSR2');

  const [bRun, aRun] = await Promise.all([bOut, aOut]);
  assert.equal(bRun.code, 0, bRun.stderr);
  assert.equal(aRun.code, 0, aRun.stderr);
  const servers = [bRun, aRun].map((r) => (JSON.parse(r.stdout) as { server: string }).server);
  assert.match(servers[0] as string, /^127\.0\.0\.1:\d+$/);
  assert.equal(servers[1], servers[0], 'one server');
  assert.ok(!existsSync(lockFile), 'the start lock is released');
  assert.ok(!existsSync(`${lockFile}.takeover`), 'the takeover guard is released');
});

/** A spawned command's exit code and whole output. */
function collect(child: ChildProcessWithoutNullStreams): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdin.end();
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}
