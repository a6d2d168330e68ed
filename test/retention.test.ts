/** Retention planning: what a prune keeps and why. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Manifest } from '../src/snapshot/manifest.js';
import { planRetention } from '../src/snapshot/retention.js';

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
