/** Snapshot ids and the database names derived from them (warm copies, staging). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { derivedDatabaseName } from '../src/postgres/databases.js';
import { compareIds } from '../src/snapshot/catalog.js';
import { formatSnapshotId, parseSnapshotId, type SnapshotId } from '../src/snapshot/ids.js';
import { warmDatabaseName } from '../src/snapshot/warm-copies.js';

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
