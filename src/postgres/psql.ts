/**
 * Reaching the live database by hand: its URL (password redacted unless asked for) and a psql
 * session on it. Credentials reach psql through a temporary 0600 PGPASSFILE, never argv.
 */
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Config } from '../config.js';
import { runInteractive } from '../util/process.js';
import { embeddedCluster } from './cluster.js';
import { type PgTarget, resolveTarget, serverMajor, toolEnv, withClient } from './connection.js';
import { findPsql } from './tools.js';

export const REDACTED = '***';

export interface DatabaseUrl {
  /** postgresql://user:***@host:port/database (the password only with showPassword). */
  readonly url: string;
  readonly embedded: boolean;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password_shown: boolean;
  /** The embedded cluster's password file; null with DATABASE_URL. */
  readonly password_file: string | null;
}

/** The live database's URL: DATABASE_URL's, or the embedded cluster's (started on demand). */
export async function databaseUrl(config: Config, options: { showPassword?: boolean } = {}): Promise<DatabaseUrl> {
  const target = await resolveTarget(config);
  const embedded = config.databaseUrl === undefined;
  return {
    url: formatUrl(target, options.showPassword === true),
    embedded,
    host: target.host,
    port: target.port,
    user: target.user,
    database: target.database,
    password_shown: options.showPassword === true && target.password !== undefined,
    password_file: embedded ? embeddedCluster(config).passwordFile : null,
  };
}

function formatUrl(target: PgTarget, showPassword: boolean): string {
  const u = new URL('postgresql://localhost');
  u.hostname = target.host;
  u.port = String(target.port);
  u.username = encodeURIComponent(target.user);
  if (target.password !== undefined) u.password = showPassword ? encodeURIComponent(target.password) : REDACTED;
  u.pathname = `/${encodeURIComponent(target.database)}`;
  if (target.sslmode !== undefined) u.searchParams.set('sslmode', target.sslmode);
  return u.toString();
}

/** Runs psql on the live database with this terminal; resolves to psql's exit code. */
export async function runPsql(config: Config, args: readonly string[]): Promise<number> {
  const target = await resolveTarget(config);
  const { major } = await withClient(target, serverMajor);
  const psql = await findPsql(major, config);
  const passFile = path.join(tmpdir(), `nfr-pgpass-${process.pid}-${randomBytes(6).toString('hex')}`);
  writeFileSync(passFile, `${[target.host, String(target.port), target.database, target.user, target.password ?? ''].map(pgpassField).join(':')}\n`, { mode: 0o600 });
  try {
    const env = { ...toolEnv(target), PGPASSWORD: undefined, PGPASSFILE: passFile, PGAPPNAME: 'nfr-psql', TERM: process.env.TERM, PAGER: process.env.PAGER, PSQL_PAGER: process.env.PSQL_PAGER };
    return await runInteractive(psql, args, env);
  } finally {
    rmSync(passFile, { force: true });
  }
}

/** A .pgpass field: `:` and `\` escaped with a backslash. */
function pgpassField(value: string): string {
  return value.replace(/[\\:]/g, (c) => `\\${c}`);
}
