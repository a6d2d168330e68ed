/** The console's pure helpers: formatting, filters and the role table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatAge, formatBytes, formatDuration, matchesFilter, parseTags } from '../src/format.js';
import { deniedReason } from '../src/permissions.js';

describe('console helpers', () => {
  it('formats sizes, durations and ages for people', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.50 KiB');
    assert.equal(formatBytes(1.5 * 1024 ** 3), '1.50 GiB');
    assert.equal(formatBytes(null), '—');
    assert.equal(formatDuration(853), '853 ms');
    assert.equal(formatDuration(30_760), '30.8 s');
    assert.equal(formatDuration(125_000), '2 min 5 s');
    const now = Date.parse('2026-12-01T12:00:00Z');
    assert.equal(formatAge('2026-12-01T11:59:30Z', now), '30 s ago');
    assert.equal(formatAge('2026-12-01T09:00:00Z', now), '3.0 h ago');
    assert.equal(formatAge('not a date', now), '—');
  });

  it('splits tags and filters snapshots by tag and text', () => {
    assert.deepEqual(parseTags(' pinned, pre-deployment  pinned nightly'), ['pinned', 'pre-deployment', 'nightly']);
    const s = { id: 'SNAP-2026-0007', name: 'Before Q4 load', description: 'golden dataset', tags: ['pinned'] };
    assert.equal(matchesFilter(s, '', ''), true);
    assert.equal(matchesFilter(s, 'golden', ''), true);
    assert.equal(matchesFilter(s, 'snap-2026-0007', 'pinned'), true);
    assert.equal(matchesFilter(s, '', 'auto'), false);
    assert.equal(matchesFilter(s, 'q3', ''), false);
  });

  it('gives the reason an action is not allowed, following the server roles', () => {
    assert.equal(deniedReason('admin', 'restore'), null);
    assert.equal(deniedReason('reader', 'verify'), null);
    assert.equal(deniedReason('operator', 'create'), null);
    assert.match(deniedReason('operator', 'restore') ?? '', /admin role; your token has operator/);
    assert.match(deniedReason('reader', 'upload') ?? '', /operator role/);
  });
});
