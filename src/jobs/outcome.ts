/**
 * The `counts` and `errors` a job record shows (SPEC §4.2: "progress, counts, errors"), taken from
 * what the work reported (pipeline/outcome.ts maps each stage's result), or from the error it
 * failed with. One vocabulary for every ingestion: rows_read / rows_valid / rows_rejected,
 * error_count, and the versions inserted / updated / unchanged / closed.
 */
import type { NfrError } from '../errors.js';
import { MAX_JOB_ERRORS, type JobCounts, type JobError } from './store.js';

export interface JobOutcome {
  readonly counts?: JobCounts;
  readonly errors?: readonly JobError[];
}

/**
 * What a failure's details tell: ingestion rejects a batch with `details.errors` (line, field,
 * message per problem), `rows_read`, `rows_rejected` and `error_count`; other failures list
 * `details.problems` (a bad header, failed checksums) for `details.line` if any.
 */
export function failureOutcome(err: NfrError): JobOutcome {
  const d = err.details ?? {};
  const counts: Record<string, number> = {};
  for (const key of ['rows_read', 'rows_rejected', 'error_count'] as const) {
    const v = d[key];
    if (typeof v === 'number') counts[key] = v;
  }
  if (counts.rows_read !== undefined && counts.rows_rejected !== undefined) counts.rows_valid = counts.rows_read - counts.rows_rejected;
  let errors: JobError[] | undefined;
  if (Array.isArray(d.errors)) {
    errors = d.errors.flatMap((e: unknown) => (typeof e === 'object' && e !== null ? [jobError(e as Record<string, unknown>)] : []));
  } else if (Array.isArray(d.problems)) {
    const line = typeof d.line === 'number' ? d.line : null;
    errors = d.problems.map((p: unknown) => ({ line, field: null, message: String(p) }));
  }
  return { ...(Object.keys(counts).length > 0 ? { counts } : {}), ...(errors ? { errors: errors.slice(0, MAX_JOB_ERRORS) } : {}) };
}

function jobError(e: Record<string, unknown>): JobError {
  return {
    line: typeof e.line === 'number' && Number.isInteger(e.line) ? e.line : null,
    field: typeof e.field === 'string' ? e.field : null,
    message: typeof e.message === 'string' ? e.message : String(e.message),
    ...(typeof e.file === 'string' ? { file: e.file } : {}),
  };
}
