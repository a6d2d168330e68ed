/**
 * The PostgreSQL driver (pg), loaded when the first client is made, and the two quoting helpers
 * that need no driver: a command that never connects (`nfr snapshot list`) starts without pg,
 * 50 ms of CPU of a start-up of 300.
 */
import type pg from 'pg';

export async function pgDriver(): Promise<typeof pg> {
  return (await import('pg')).default;
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
