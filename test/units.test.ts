/** Pure parts: configuration, ids, retention planning, manifest validation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDotenv, resolveConfig } from '../src/config.js';
import { NfrError } from '../src/errors.js';
import { BATCH_RECORDS, csvRecords } from '../src/ingest/csv-records.js';
import { derivedDatabaseName } from '../src/postgres/databases.js';
import { compareIds } from '../src/snapshot/catalog.js';
import { formatSnapshotId, parseSnapshotId, type SnapshotId } from '../src/snapshot/ids.js';
import { warmDatabaseName } from '../src/snapshot/warm-copies.js';
import { manifestFields, type Manifest } from '../src/snapshot/manifest.js';
import { planRetention } from '../src/snapshot/retention.js';

describe('config', () => {
  it('takes flags over environment over .env over defaults', () => {
    const c = resolveConfig({ env: { POSTGRES_BACKUP_PARALLEL_JOBS: '3' }, cwd: '/srv', dotenv: 'POSTGRES_BACKUP_PARALLEL_JOBS=5\nPOSTGRES_BACKUP_PATH="/backups" # comment\n' });
    assert.equal(c.parallelJobs, 3);
    assert.equal(c.backupPath, '/backups');
    assert.equal(c.home, '/srv/.nfr');
    assert.equal(c.compression, 0);
    assert.equal(resolveConfig({ env: { POSTGRES_BACKUP_PARALLEL_JOBS: '3' }, cwd: '/srv', flags: { jobs: 7 } }).parallelJobs, 7);
    assert.ok(Object.isFrozen(c));
  });

  it('names every bad variable and hides passwords', () => {
    assert.throws(
      () => resolveConfig({ env: { DATABASE_URL: 'mysql://u:secret@h/db', POSTGRES_BACKUP_COMPRESSION: '12', PG_BIN_DIR: '/nonexistent/bin' }, cwd: '/' }),
      (err: unknown) => {
        assert.ok(err instanceof NfrError && err.code === 'CONFIG');
        assert.match(err.message, /DATABASE_URL=.*expected a URL of the form postgresql:/);
        assert.match(err.message, /POSTGRES_BACKUP_COMPRESSION="12": expected an integer from 0 to 9/);
        assert.match(err.message, /PG_BIN_DIR="\/nonexistent\/bin": expected an existing directory/);
        assert.doesNotMatch(err.message, /secret/);
        return true;
      },
    );
  });

  it('never prints a password or token, whatever shape the setting has', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ DATABASE_URL: 'postgres//user:Pw-secret@host:5432/db' }, /DATABASE_URL="postgres\/\/user:\*\*\*@host:5432\/db": expected a URL/],
      [{ DATABASE_URL: 'postgresql:/user:Pw-secret@host/db' }, /DATABASE_URL="postgresql:\/user:\*\*\*@host\/db": expected .*no host found/],
      [{ DATABASE_URL: 'postgresql://user:Pw-secret%zz@host/db' }, /DATABASE_URL="postgresql:\/\/user:\*\*\*@host\/db": expected .*percent-escapes/],
      [{ API_TOKENS: 'justtoken-secret' }, /API_TOKENS="\*\*\*": expected comma-separated role:token pairs/],
      [{ API_TOKENS: 'admin:Pw-secret,root:Pw-secret2' }, /API_TOKENS="admin:\*\*\*,root:\*\*\*"/],
      [{ API_TOKENS: 'admin:Pw-secret-0123456789,reader:Pw-secret-0123456789' }, /API_TOKENS="admin:\*\*\*,reader:\*\*\*": expected each token given once/],
    ];
    for (const [env, expected] of cases) {
      assert.throws(
        () => resolveConfig({ env, cwd: '/' }),
        (err: unknown) => {
          assert.ok(err instanceof NfrError && err.code === 'CONFIG', String(err));
          assert.match(err.message, expected);
          assert.doesNotMatch(err.message, /Pw|secret/, `${JSON.stringify(env)} printed a secret: ${err.message}`);
          return true;
        },
      );
    }
    // Well-formed values pass, including a socket directory instead of a host.
    assert.equal(resolveConfig({ env: { DATABASE_URL: 'postgresql://u:p%40ss@db.internal:5433/nfr' }, cwd: '/' }).databaseUrl, 'postgresql://u:p%40ss@db.internal:5433/nfr');
    assert.ok(resolveConfig({ env: { DATABASE_URL: 'postgresql:///nfr?host=/var/run/postgresql' }, cwd: '/' }).databaseUrl);
  });

  it('reads .env lines with quotes, export and comments', () => {
    assert.deepEqual(parseDotenv('export A=1\n# c\nB = "two words"\nC=x # trailing\nD=\'q\'\n'), { A: '1', B: 'two words', C: 'x', D: 'q' });
  });
});

describe('snapshot ids', () => {
  it('accepts SNAP-YYYY-NNNN and orders by number', () => {
    assert.equal(parseSnapshotId('SNAP-2026-0001'), 'SNAP-2026-0001');
    assert.equal(formatSnapshotId(2026, 12345), 'SNAP-2026-12345');
    assert.deepEqual(['SNAP-2026-10000', 'SNAP-2026-9999', 'SNAP-2025-0500'].sort(compareIds), ['SNAP-2025-0500', 'SNAP-2026-9999', 'SNAP-2026-10000']);
    // SNAP-2026-00001 would be a second spelling of SNAP-2026-0001.
    for (const bad of ['../x', 'SNAP-1', 'snap-2026-0001', 'SNAP-2026-001', 'SNAP-2026-00001', 'SNAP-2026-0001\n', 'SNAP-2026-0001/..', 42, null]) {
      assert.throws(() => parseSnapshotId(bad), /invalid snapshot id/);
    }
  });

  it('names warm copies within the 63-byte limit, one name per snapshot', () => {
    assert.equal(warmDatabaseName('nfr', 'SNAP-2026-0003' as SnapshotId), 'nfr__nfr_warm_2026_0003');
    const long = 'l'.repeat(60);
    const names = ['SNAP-2026-0003', 'SNAP-2026-123456789'].map((id) => warmDatabaseName(long, id as SnapshotId));
    for (const n of names) assert.ok(Buffer.byteLength(n) <= 63, n);
    assert.match(names[1]!, /__nfr_warm_2026_123456789$/);
    assert.notEqual(warmDatabaseName(long + 'a', 'SNAP-2026-0003' as SnapshotId), warmDatabaseName(long + 'b', 'SNAP-2026-0003' as SnapshotId));
  });

  it('derives staging names within the 63-byte limit', () => {
    assert.equal(derivedDatabaseName('nfr', 'staging'), 'nfr__nfr_staging');
    const long = derivedDatabaseName('x'.repeat(63), 'staging');
    assert.ok(Buffer.byteLength(long) <= 63, long);
    assert.notEqual(derivedDatabaseName('a'.repeat(50) + '1', 'prev'), derivedDatabaseName('a'.repeat(50) + '2', 'prev'));
  });
});

function manifest(id: string, createdAt: string, tags: string[] = []): Manifest {
  return { id, created_at: createdAt, tags, name: id, total_bytes: 10 } as unknown as Manifest;
}

describe('retention', () => {
  const now = new Date('2026-11-25T12:00:00Z');
  it('keeps the newest per day, week and month, pinned forever, pre-deployment for 30 days', () => {
    const snaps = [
      manifest('SNAP-2026-0001', '2026-06-01T10:00:00Z', ['pinned']),
      manifest('SNAP-2026-0002', '2026-09-10T10:00:00Z'),
      manifest('SNAP-2026-0003', '2026-10-01T10:00:00Z', ['pre-deployment']),
      manifest('SNAP-2026-0004', '2026-11-01T10:00:00Z', ['pre-deployment']),
      manifest('SNAP-2026-0005', '2026-11-24T09:00:00Z'),
      manifest('SNAP-2026-0006', '2026-11-24T18:00:00Z'),
      manifest('SNAP-2026-0007', '2026-11-25T08:00:00Z'),
    ];
    const plan = planRetention(snaps, { daily: 2, weekly: 1, monthly: 2 }, now);
    const byId = Object.fromEntries(plan.map((d) => [d.id, d]));
    assert.deepEqual(byId['SNAP-2026-0007']!.reasons, ['daily', 'weekly', 'monthly']);
    assert.deepEqual(byId['SNAP-2026-0006']!.reasons, ['daily']);
    assert.equal(byId['SNAP-2026-0005']!.keep, false, 'older snapshot of the same day');
    assert.deepEqual(byId['SNAP-2026-0004']!.reasons, ['pre-deployment']);
    assert.deepEqual(byId['SNAP-2026-0003']!.reasons, ['monthly'], 'pre-deployment older than 30 days only counts as monthly');
    assert.equal(byId['SNAP-2026-0002']!.keep, false);
    assert.deepEqual(byId['SNAP-2026-0001']!.reasons, ['pinned']);
  });

  it('uses ISO weeks', () => {
    // 2026-01-01 is a Thursday: 2025-12-29 (Mon) and 2026-01-01 share ISO week 2026-W01.
    const plan = planRetention([manifest('SNAP-2025-0001', '2025-12-29T10:00:00Z'), manifest('SNAP-2026-0001', '2026-01-01T10:00:00Z')], { daily: 0, weekly: 5, monthly: 0 }, now);
    assert.deepEqual(plan.map((d) => d.keep), [true, false]);
  });
});

describe('manifest', () => {
  it('rejects file paths that escape the snapshot directory', () => {
    const base = { path: 'db/toc.dat', size: 1, sha256: 'a'.repeat(64) };
    const files = manifestFields.shape.files;
    assert.equal(files.safeParse([base]).success, true);
    for (const p of ['../x', 'db/../../x', '/etc/passwd', 'db//x']) assert.equal(files.safeParse([{ ...base, path: p }]).success, false, p);
  });
});

describe('CSV records from the parser thread', () => {
  const write = async (name: string, content: string | Buffer) => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(`${tmpdir()}/nfr-csv-`);
    await writeFile(`${dir}/${name}`, content);
    return `${dir}/${name}`;
  };
  const all = async (file: string) => {
    const out: string[][] = [];
    for await (const r of csvRecords(file)) out.push(r);
    return out;
  };

  it('yields every record in order, across batches, with BOM, CRLF and quoted newlines', async () => {
    const rows = Array.from({ length: BATCH_RECORDS * 3 + 7 }, (_, i) => `C-${i},"line one\r\nline ""two"", three"`);
    const file = await write('ok.csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(['control_id,title', ...rows].join('\r\n') + '\r\n')]));
    const records = await all(file);
    assert.equal(records.length, rows.length + 1);
    assert.deepEqual(records[0], ['control_id', 'title']);
    assert.deepEqual(records[1], ['C-0', 'line one\r\nline "two", three']);
    assert.deepEqual(records.at(-1)?.[0], `C-${rows.length - 1}`);
  });

  it('ends with a syntax error that names its line, after the records the parser delivered before it', async () => {
    const good = Array.from({ length: BATCH_RECORDS + 3 }, (_, i) => `C-${i},ok`);
    const file = await write('bad.csv', ['control_id,title', ...good, 'C-X,"x"y', 'C-Y,never'].join('\n') + '\n');
    const seen: string[][] = [];
    await assert.rejects(
      async () => {
        for await (const r of csvRecords(file)) seen.push(r);
      },
      (err: { code?: string; lines?: number }) => err.code === 'CSV_INVALID_CLOSING_QUOTE' && err.lines === good.length + 2,
    );
    // csv-parse fails a chunk as a whole, so how many records came first depends on its chunking;
    // those that came are the file's first ones, in order.
    assert.ok(seen.length <= good.length + 1);
    seen.slice(1).forEach((r, i) => assert.equal(r[0], `C-${i}`));
  });

  it('reports a file that cannot be read, and stops the thread when the consumer stops early', async () => {
    await assert.rejects(all('/nonexistent/nfr.csv'), (err: { code?: string }) => err.code === 'ENOENT');
    const file = await write('big.csv', ['control_id,title', ...Array.from({ length: BATCH_RECORDS * 20 }, (_, i) => `C-${i},t`)].join('\n'));
    let n = 0;
    for await (const _ of csvRecords(file)) if (++n === 3) break;
    assert.equal(n, 3); // a thread left running would keep this test process alive past the suite
  });
});

describe('PostgreSQL tools', () => {
  it('uses the pg_dump of the server major and explains a mismatch', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const { findClientTool, findServerTool, programMajor } = await import('../src/postgres/tools.js');
    const installed = await programMajor(findServerTool('postgres', undefined));
    const dir = mkdtempSync(path.join(tmpdir(), 'nfr-fake-bin-'));
    try {
      writeFileSync(path.join(dir, 'pg_dump'), '#!/bin/sh\necho "pg_dump (PostgreSQL) 11.22"\n', { mode: 0o755 });
      const real = await findClientTool('pg_dump', installed, dir);
      assert.notEqual(real, path.join(dir, 'pg_dump'), 'a PG_BIN_DIR tool of another major is skipped');
      await assert.rejects(findClientTool('pg_dump', 99, dir), (err: unknown) => {
        assert.ok(err instanceof NfrError && err.code === 'TOOL_FAILED');
        assert.match(err.message, /no pg_dump for PostgreSQL 99 found; found only .*pg_dump \(11\)/);
        assert.match(err.message, /PG_BIN_DIR/);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
