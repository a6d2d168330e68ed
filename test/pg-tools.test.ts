/** Finding PostgreSQL's programs: the pg_dump of the server's major, and a clear error otherwise. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NfrError } from '../src/errors.js';

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
