/** Snapshot ids: `SNAP-YYYY-NNNN` (four or more digits), validated before any file is touched. */
import { NfrError } from '../errors.js';

export type SnapshotId = string & { readonly __brand: 'SnapshotId' };

// Four digits, zero-padded; more only from 10000 on, never with a leading zero (SNAP-2026-00001
// would name the same snapshot as SNAP-2026-0001 in a second spelling).
const SNAPSHOT_ID = /^SNAP-(\d{4})-(\d{4}|[1-9]\d{4,8})$/;

/** Validates untrusted input; `../x` or `SNAP-1` never reach the file system. */
export function parseSnapshotId(input: unknown): SnapshotId {
  if (typeof input !== 'string' || !SNAPSHOT_ID.test(input)) {
    const shown = typeof input === 'string' ? JSON.stringify(input.slice(0, 80)) : String(input);
    throw new NfrError('INVALID_INPUT', `invalid snapshot id ${shown}: expected SNAP-YYYY-NNNN, e.g. SNAP-2026-0001`);
  }
  return input as SnapshotId;
}

export function isSnapshotId(input: string): input is SnapshotId {
  return SNAPSHOT_ID.test(input);
}

export function formatSnapshotId(year: number, n: number): SnapshotId {
  return `SNAP-${year}-${String(n).padStart(4, '0')}` as SnapshotId;
}

/** Year and sequence number of an id. */
export function splitSnapshotId(id: SnapshotId): { year: number; n: number } {
  const m = SNAPSHOT_ID.exec(id);
  return { year: Number(m?.[1]), n: Number(m?.[2]) };
}
