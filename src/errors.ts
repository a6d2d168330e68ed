/**
 * Typed errors with stable codes. One table maps every code to the CLI exit code and the HTTP
 * status, so the CLI and the API always agree on what a failure means.
 */

export const ERROR_CODES = {
  INTERNAL: { exit: 1, http: 500 },
  USAGE: { exit: 2, http: 400 },
  CONFIG: { exit: 2, http: 500 },
  LOCKED: { exit: 3, http: 409 },
  NOT_FOUND: { exit: 4, http: 404 },
  SCHEMA_MISMATCH: { exit: 5, http: 409 },
  VERIFY_FAILED: { exit: 6, http: 422 },
  TOOL_FAILED: { exit: 7, http: 500 },
  UNHEALTHY: { exit: 8, http: 503 },
  ABORTED: { exit: 9, http: 409 },
  DATABASE: { exit: 10, http: 503 },
  IN_USE: { exit: 11, http: 409 },
  INVALID_INPUT: { exit: 12, http: 400 },
  UNAUTHORIZED: { exit: 13, http: 401 },
  FORBIDDEN: { exit: 14, http: 403 },
  PAYLOAD_TOO_LARGE: { exit: 12, http: 413 },
  UNSUPPORTED_MEDIA_TYPE: { exit: 12, http: 415 },
  DISK_FULL: { exit: 15, http: 507 },
  /** The offsite repository's endpoint does not answer (down, wrong address, DNS). */
  OFFSITE_UNREACHABLE: { exit: 16, http: 504 },
  /** The offsite repository refused the credentials (or they are missing). */
  OFFSITE_DENIED: { exit: 17, http: 502 },
  /** The offsite repository's bucket does not exist. */
  OFFSITE_NO_BUCKET: { exit: 18, http: 424 },
  /** A job stopped because someone cancelled it (`nfr job cancel`, the API, the console). */
  CANCELLED: { exit: 19, http: 409 },
  /** The snapshot's only copy is in the offsite repository, and the command reads the local one (e.g. `verify` without --offsite). */
  OFFSITE_ONLY: { exit: 20, http: 409 },
  /** A PostgreSQL program nfr needs (pg_dump, pg_restore, psql, initdb) is installed nowhere it looks, not even from npm. */
  TOOL_MISSING: { exit: 21, http: 500 },
  /** HTTP only: a route exists for the path, not for the method. */
  METHOD_NOT_ALLOWED: { exit: 2, http: 405 },
} as const satisfies Record<string, { exit: number; http: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/**
 * What each exit code means, for `nfr --help` and the README's table (a test holds the README to
 * it). Every exit code of ERROR_CODES is here; 13 and 14 only exist in HTTP answers.
 */
export const EXIT_MEANINGS: Readonly<Record<number, string>> = {
  0: 'success',
  1: 'internal error',
  2: 'usage or configuration error',
  3: 'another operation (snapshot, restore, ingestion, indexing) holds the lock',
  4: 'not found',
  5: 'schema version or index model mismatch',
  6: 'verification failed (snapshot checksums, index check)',
  7: 'external tool or service failed (pg_dump, pg_restore, initdb, Qdrant, embeddings endpoint)',
  8: 'unhealthy (`snapshot health`)',
  9: 'cancelled at the confirmation prompt',
  10: 'database or Qdrant unavailable',
  11: 'in use (sessions of the live database would not end)',
  12: 'invalid input (bad id, name, file, line or row)',
  13: 'unauthorized (API only: no or unknown token; HTTP 401)',
  14: 'forbidden (API only: the token\'s role may not; HTTP 403)',
  15: 'disk full (no space left where nfr writes, or on the database server; HTTP 507)',
  16: 'offsite repository unreachable (the S3 endpoint does not answer; HTTP 504)',
  17: 'offsite repository refused the credentials (HTTP 502)',
  18: 'offsite repository bucket does not exist (HTTP 424)',
  19: 'cancelled (`nfr job cancel`, the API or the console stopped the job)',
  20: 'the snapshot is only in the offsite repository, not on local disk (verify it with --offsite; restore and warm fetch it back; HTTP 409)',
  21: 'a PostgreSQL program nfr needs (pg_dump, pg_restore, psql, initdb) is not installed: not on the system, in PG_BIN_DIR or from the optional npm packages',
};

/**
 * One problem with a piece of input, wherever it is reported (a job record, an upload record,
 * an ingestion report): the file if there are several, the line (CSV: where the record starts;
 * JSONL: the line) and the column or field, null when the problem is the whole file or line,
 * and what is wrong.
 */
export interface InputError {
  readonly file?: string;
  readonly line: number | null;
  readonly field: string | null;
  readonly message: string;
}

/** An error the user can act on: a stable code, a message saying what happened and what to do. */
export class NfrError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NfrError';
    this.code = code;
    this.details = options?.details;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }
}

/** Wraps anything thrown into an NfrError, keeping NfrErrors as they are. */
export function toNfrError(err: unknown): NfrError {
  if (err instanceof NfrError) return err;
  const pgCode = sqlState(err);
  if (pgCode !== undefined && isConnectionFailure(pgCode)) {
    return new NfrError('DATABASE', `database unavailable (${pgCode}): ${messageOf(err)}`, { cause: err });
  }
  if (isNodeConnectionError(err)) {
    return new NfrError('DATABASE', `cannot reach the database: ${messageOf(err)}`, { cause: err });
  }
  const full = diskFull(err);
  if (full) return full;
  if (pgCode === '42P01') {
    // undefined_table: the database lacks (part of) nfr's schema, e.g. it was never migrated.
    return new NfrError('SCHEMA_MISMATCH', `the database lacks nfr's schema (${messageOf(err)}); run \`nfr db migrate\``, { cause: err });
  }
  return new NfrError('INTERNAL', messageOf(err), { cause: err });
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The SQLSTATE of a PostgreSQL error, if it is one. */
export function sqlState(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/**
 * SQLSTATEs that mean the server or the session went away rather than that the statement was wrong:
 * class 08 (connection exception), 57P01 admin_shutdown (our own restore ends sessions with it),
 * 57P02 crash_shutdown, 57P03 cannot_connect_now, 3D000 invalid_catalog_name (the database is
 * being swapped), 55000 with datallowconn=false surfaces as 55000 object_not_in_prerequisite_state.
 */
export function isConnectionFailure(code: string): boolean {
  return code.startsWith('08') || ['57P01', '57P02', '57P03', '3D000', '55000'].includes(code);
}

function isNodeConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null || !('code' in err)) return false;
  const code = (err as { code: unknown }).code;
  return code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'ENOTFOUND' || code === 'ETIMEDOUT';
}

/**
 * A full disk or exhausted quota, from a file system call (ENOSPC, EDQUOT, with the path it was
 * writing, or `writing` when the error has none) or from PostgreSQL (53100 disk_full):
 * DISK_FULL, naming where, so the operator knows which volume to free.
 */
export function diskFull(err: unknown, writing?: string): NfrError | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  if (err instanceof NfrError) return err.code === 'DISK_FULL' ? err : undefined;
  const e = err as { code?: unknown; path?: unknown; dest?: unknown };
  if (e.code === 'ENOSPC' || e.code === 'EDQUOT') {
    // A stream's write error carries no path: the caller says what it was writing.
    const where = typeof e.path === 'string' ? e.path : typeof e.dest === 'string' ? e.dest : (writing ?? 'a file nfr was writing');
    return new NfrError('DISK_FULL', `${e.code === 'EDQUOT' ? 'the disk quota is exhausted' : 'no space left on the device'} holding ${where}; free space there and retry (nothing was kept of what was being written)`, { cause: err });
  }
  if (e.code === '53100') {
    return new NfrError('DISK_FULL', `the database server's disk is full (53100: ${messageOf(err)}); free space on the server and retry`, { cause: err });
  }
  return undefined;
}
