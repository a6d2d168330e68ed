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
} as const satisfies Record<string, { exit: number; http: number }>;

export type ErrorCode = keyof typeof ERROR_CODES;

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
