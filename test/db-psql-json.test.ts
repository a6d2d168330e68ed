/**
 * Every command takes --json (README, SPEC §5.1), `nfr db psql` too: it used to answer
 * "unknown option '--json'" (exit 2). With it, nfr's own errors are JSON and psql's output is
 * psql's.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { nfr, testEnv } from './support/cli.js';
import { fileCluster } from './support/cluster.js';

const cluster = fileCluster();

describe('nfr db psql --json', () => {
  it("runs psql with --json given, and reports nfr's own errors as JSON", async () => {
    const db = await cluster.createDatabase('psqljson');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('psqljson-backups'), NFR_HOME: cluster.tempDir('psqljson-home') });
    const ran = await nfr(['db', 'psql', '--json', '--', '-At', '-c', 'select 41 + 1'], env);
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), '42');
    const before = await nfr(['--json', 'db', 'psql', '--', '-At', '-c', 'select 7'], env);
    assert.equal(before.code, 0, before.stderr);
    assert.equal(before.stdout.trim(), '7');
    const refused = await nfr(['db', 'psql', '--json', '--', '-c', 'select 1'], { ...env, NFR_LOCAL_KEEP: 'none' });
    assert.equal(refused.code, 2);
    const body = JSON.parse(refused.stdout) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'CONFIG');
    assert.match(body.error.message, /NFR_LOCAL_KEEP="none"/);
  });
});
