/**
 * The embedded default used by a second OS user (sudo one way and not the other, SPEC 2): the
 * cluster's password file is its creator's alone (0600), and reading it failed as an internal
 * error, exit 1, with only "EACCES: permission denied, open '.../password'". Now it is a
 * configuration error (exit 2) naming the file and the two ways on. Needs root, to run the
 * second command as the postgres user; skipped otherwise.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { NFR_BIN, embeddedHome, nfrJson } from './support/cli.js';

const isRoot = process.getuid?.() === 0;
const home = isRoot ? embeddedHome('nfr-acceptance-user-') : undefined;

function runAs(uid: number, gid: number, args: readonly string[], cwd: string): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [NFR_BIN, ...args], { cwd, uid, gid, env: { PATH: process.env.PATH, HOME: '/tmp', LANG: 'C.UTF-8', NFR_EMBEDDER: 'hash' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.resume();
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout }));
  });
}

describe('acceptance: embedded cluster of another user', () => {
  it('says the password file belongs to another user (CONFIG, exit 2), naming it', { skip: !isRoot && 'needs root to run a command as the postgres user' }, async () => {
    assert.ok(home);
    const started = await nfrJson(['db', 'start'], home.env, home.cwd);
    assert.equal(started.code, 0, started.stderr);
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
    const r = await runAs(uid, gid, ['db', 'status', '--json'], home.cwd);
    assert.equal(r.code, 2, r.stdout);
    const body = JSON.parse(r.stdout);
    assert.equal(body.error.code, 'CONFIG');
    assert.match(body.error.message, /password file .*\.nfr\/pg\/password \(EACCES\).*DATABASE_URL/);
  });
});
