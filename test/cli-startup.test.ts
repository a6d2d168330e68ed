/**
 * CLI start-up: a command loads only what it uses. `nfr --help` lists the commands without loading
 * any group; `nfr snapshot list` loads the snapshot group, not the server, the index or the
 * embedders. (Timings are in bench/cli; these check what is loaded, which is what decides them.)
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { buildProgram } from '../src/cli/main.js';
import { NFR_BIN, nfr, REPO_ROOT, testEnv } from './support/cli.js';
import { NFR_VERSION } from '../src/version.js';

/**
 * Module hooks that print every file loaded, so the test sees what a command loads: ESM through
 * a resolve hook, CommonJS (pg, which the driver loads with require) through Module._load.
 */
const TRACE = `data:text/javascript,${encodeURIComponent(
  `import Module, { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent("export async function resolve(s, c, n) { const r = await n(s, c); if (r.url.startsWith('file:')) process.stderr.write('LOADED ' + r.url + '\\\\n'); return r; }"));
const load = Module._load;
Module._load = function (request, parent, isMain) {
  const exports = load.apply(this, arguments);
  try { const f = Module._resolveFilename(request, parent, isMain); if (f.startsWith('/')) process.stderr.write('LOADED file://' + f + '\\n'); } catch {}
  return exports;
};`,
)}`;

const home = mkdtempSync(path.join(tmpdir(), 'nfr-startup-'));
after(() => rmSync(home, { recursive: true, force: true }));

function loaded(args: readonly string[]): Promise<{ code: number; files: string[] }> {
  return new Promise((resolve, reject) => {
    const env = testEnv({ POSTGRES_BACKUP_PATH: path.join(home, 'backups'), NFR_HOME: path.join(home, 'nfr') });
    const child = spawn(process.execPath, ['--import', TRACE, NFR_BIN, ...args], { env: env as NodeJS.ProcessEnv, cwd: home, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const files = [...stderr.matchAll(/^LOADED file:\/\/(.+)$/gm)].map((m) => m[1] as string);
      resolve({ code: code ?? 1, files });
    });
  });
}

const under = (files: string[], fragment: string) => files.filter((f) => f.includes(fragment));

describe('CLI start-up', () => {
  it('lists the same commands in the fast top-level help as the groups register', async () => {
    const fast = await buildProgram(['node', 'nfr', '--help']);
    const full = await buildProgram(['node', 'nfr'], { allGroups: true });
    assert.equal(fast.helpInformation(), full.helpInformation(), 'COMMAND_LIST in src/cli/main.ts differs from what the command groups register');
    assert.ok(full.commands.length >= 10, 'every group was loaded for the comparison');
  });

  it('`nfr --help` loads no command group, no zod and no pg', async () => {
    const { code, files } = await loaded(['--help']);
    assert.equal(code, 0);
    assert.ok(files.some((f) => f.endsWith('/dist/src/cli/main.js')), 'the trace sees the CLI load');
    assert.deepEqual(under(files, '/dist/src/cli/').map((f) => path.basename(f)).sort(), ['main.js', 'output.js']);
    assert.deepEqual(under(files, '/node_modules/zod/'), []);
    assert.deepEqual(under(files, '/node_modules/pg/'), []);
  });

  it('`nfr snapshot list` loads neither the server, an index backend, the embedders, nor other groups', async () => {
    const { code, files } = await loaded(['snapshot', 'list', '--json']);
    assert.equal(code, 0);
    assert.ok(under(files, '/dist/src/snapshot/').length > 0, 'the trace sees the snapshot modules load');
    // Listing reads files: no driver, no S3 client (the offsite part loads it when it reaches a
    // bucket), and none of the create, restore or verify machinery.
    const heavy = [
      '/dist/src/server/', '/dist/src/index/qdrant', '/dist/src/index/embedded', '/dist/src/enrich/', '/dist/src/search/', '/node_modules/fastify/', '/node_modules/@qdrant/', '/node_modules/pg-boss/',
      '/node_modules/pg/', '/node_modules/@aws-sdk/', '/dist/src/snapshot/create.js', '/dist/src/snapshot/restore/', '/dist/src/snapshot/verify.js', '/dist/src/cli/snapshot.js',
    ];
    for (const part of heavy) {
      assert.deepEqual(under(files, part), [], `${part} is loaded by snapshot list`);
    }
    assert.deepEqual(
      // The snapshot group may span several files (snapshot.ts, snapshot-diff.ts, ...).
      under(files, '/dist/src/cli/').map((f) => path.basename(f)).filter((f) => !['main.js', 'output.js', 'flags.js'].includes(f) && !f.startsWith('snapshot')),
      [],
    );
  });

  it('NFR_DEBUG_TIMING=1 prints each step with its time since start on stderr, and nothing without it', async () => {
    const env = testEnv({ POSTGRES_BACKUP_PATH: path.join(home, 'backups'), NFR_HOME: path.join(home, 'nfr') });
    const timed = await nfr(['snapshot', 'list', '--json'], { ...env, NFR_DEBUG_TIMING: '1' }, home);
    assert.equal(timed.code, 0, timed.stderr);
    const steps = [...timed.stderr.matchAll(/^nfr: timing +(\d+\.\d) ms (.+)$/gm)].map((m) => ({ ms: Number(m[1]), step: m[2] }));
    assert.deepEqual(
      steps.map((s) => s.step),
      ['cli: main', 'cli: commands loaded', 'cli: command done'],
    );
    assert.ok(steps.every((s, i) => i === 0 || s.ms >= (steps[i - 1]?.ms ?? 0)), `times in order: ${timed.stderr}`);
    assert.equal(JSON.parse(timed.stdout).snapshots.length, 0, 'the command itself ran');
    const plain = await nfr(['snapshot', 'list', '--json'], env, home);
    assert.equal(plain.code, 0);
    assert.equal(plain.stderr, '');
  });

  it('`nfr snapshot create` loads the create, not the restore, verify or diff machinery, with the same help as in its group', async () => {
    const { code, files } = await loaded(['snapshot', 'create', '--help']);
    assert.equal(code, 0);
    assert.equal(under(files, '/dist/src/snapshot/create.js').length, 1, 'the trace sees the create load');
    // Nor, before pg_dump starts, the warm copy (only with --warm) or the offsite copy (loaded
    // while pg_dump runs): what loads before the dump delays it.
    for (const part of ['/dist/src/snapshot/restore/', '/dist/src/snapshot/deep-verify.js', '/dist/src/snapshot/diff/index.js', '/dist/src/cli/snapshot.js', '/dist/src/server/', '/node_modules/fastify/', '/dist/src/snapshot/warm.js', '/dist/src/snapshot/offsite/copies.js', '/dist/src/snapshot/verify.js']) {
      assert.deepEqual(under(files, part), [], `${part} is loaded by snapshot create`);
    }
    const single = await buildProgram(['node', 'nfr', 'snapshot', 'create']);
    const group = await buildProgram(['node', 'nfr', 'snapshot']);
    const create = (p: Awaited<ReturnType<typeof buildProgram>>) => p.commands.find((c) => c.name() === 'snapshot')?.commands.find((c) => c.name() === 'create');
    assert.ok(create(single) && create(group));
    assert.equal(create(single)?.helpInformation(), create(group)?.helpInformation());
  });

  it('the driver loads pg without a global navigator left behind, as the same module `import pg` gets', async () => {
    const { pgDriver } = await import('../src/postgres/driver.js');
    const had = 'navigator' in globalThis;
    const driver = await pgDriver();
    assert.equal('navigator' in globalThis, had, 'navigator is defined only while pg loads');
    assert.equal(driver, (await import('pg')).default);
    assert.equal(typeof driver.Client, 'function');
  });

  it('a connecting command sees pg load (the trace sees CommonJS too)', async () => {
    // A URL nothing listens on: the command fails to connect, after loading the driver.
    const env = testEnv({ POSTGRES_BACKUP_PATH: path.join(home, 'backups'), NFR_HOME: path.join(home, 'nfr'), DATABASE_URL: 'postgresql://nobody:x@127.0.0.1:1/none' });
    const files = await new Promise<string[]>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', TRACE, NFR_BIN, 'db', 'status', '--json'], { env: env as NodeJS.ProcessEnv, cwd: home, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', () => resolve([...stderr.matchAll(/^LOADED file:\/\/(.+)$/gm)].map((m) => m[1] as string)));
    });
    assert.ok(under(files, '/node_modules/pg/lib/client.js').length > 0, 'the trace sees pg load');
  });

  it('`npx nfr` in the repository runs bin/nfr.js from node_modules/.bin, without installing the package into npm\'s cache', async () => {
    // A bin of the root package would make npm exec install the package into its cache first
    // (about 0.15 s more on every command); `prepare` links node_modules/.bin/nfr instead.
    const manifest = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { bin?: Record<string, string> };
    assert.equal(manifest.bin?.nfr, undefined, 'package.json declares no bin named nfr');
    assert.equal(readlinkSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'nfr')), path.join('..', '..', 'bin', 'nfr.js'));
    const cache = path.join(home, 'npm-cache');
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const env = { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', npm_config_cache: cache, npm_config_update_notifier: 'false' };
      const child = spawn('npx', ['nfr', '--version'], { env, cwd: path.join(REPO_ROOT, 'web'), stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), NFR_VERSION);
    assert.ok(!existsSync(path.join(cache, '_npx')), 'npx installed nothing into its cache');
  });
});
