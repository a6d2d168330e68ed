/**
 * The PostgreSQL driver (pg), loaded when the first client is made, and the two quoting helpers
 * that need no driver: a command that never connects (`nfr snapshot list`) starts without pg,
 * 50 ms of CPU of a start-up of 300.
 */
import { createRequire } from 'node:module';
import type pg from 'pg';

let driver: typeof pg | undefined;

export async function pgDriver(): Promise<typeof pg> {
  driver ??= loadDriver();
  return driver;
}

/**
 * pg asks, as it loads (pg/lib/stream.js), whether it runs in a Cloudflare Worker: where there is
 * no global `navigator` (Node 20) it constructs a `Response` to find out, which makes Node 20
 * load its whole fetch implementation (undici), 25 ms of the 0.3 s before a snapshot create's
 * pg_dump starts. A `navigator` that is not a worker's answers it the way Node 21+ does by
 * itself; it exists only while pg loads, synchronously (no other code runs in between), so
 * nothing else ever sees it. pg is CommonJS: this is the same module `import pg from 'pg'` gets.
 */
function loadDriver(): typeof pg {
  const require = createRequire(import.meta.url);
  const global = globalThis as { navigator?: unknown };
  if (global.navigator !== undefined) return require('pg') as typeof pg;
  Object.defineProperty(global, 'navigator', { value: { userAgent: `Node.js/${process.versions.node}` }, configurable: true, writable: true, enumerable: false });
  try {
    return require('pg') as typeof pg;
  } finally {
    delete global.navigator;
  }
}

/** A quoted identifier, as pg's escapeIdentifier (which would load the driver for two lines). */
export function escapeIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A quoted literal, as pg's escapeLiteral: quotes doubled, and backslashes with E'' syntax. */
export function escapeLiteral(value: string): string {
  const quoted = `'${value.replace(/'/g, "''").replace(/\\/g, '\\\\')}'`;
  return value.includes('\\') ? ` E${quoted}` : quoted;
}
