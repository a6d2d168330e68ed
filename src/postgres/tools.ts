/**
 * Finds PostgreSQL's programs: pg_dump/pg_restore of the server's major version, and the server
 * binaries (initdb, pg_ctl) for the embedded cluster. Looks at PG_BIN_DIR, then
 * /usr/lib/postgresql/<major>/bin, then PATH.
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';
import { NfrError } from '../errors.js';
import { runProgram } from '../util/process.js';

export type PgProgram = 'pg_dump' | 'pg_restore' | 'psql' | 'initdb' | 'pg_ctl' | 'postgres';

const DEBIAN_ROOT = '/usr/lib/postgresql';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Installed majors under /usr/lib/postgresql, newest first. */
function installedMajors(): number[] {
  try {
    return readdirSync(DEBIAN_ROOT)
      .filter((d) => /^\d+$/.test(d))
      .map(Number)
      .sort((a, b) => b - a);
  } catch {
    return [];
  }
}

/** Candidate paths for a program, in order of preference. */
function candidates(program: PgProgram, pgBinDir: string | undefined, major?: number): string[] {
  const out: string[] = [];
  if (pgBinDir) out.push(path.join(pgBinDir, program));
  const majors = installedMajors();
  const ordered = major === undefined ? majors : [major, ...majors.filter((m) => m !== major)];
  for (const m of ordered) out.push(path.join(DEBIAN_ROOT, String(m), 'bin', program));
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) if (dir) out.push(path.join(dir, program));
  return [...new Set(out)].filter(isExecutable);
}

const versionCache = new Map<string, number>();

/** Major version a program reports with --version (e.g. "pg_dump (PostgreSQL) 15.18" → 15). */
export async function programMajor(file: string): Promise<number> {
  const cached = versionCache.get(file);
  if (cached !== undefined) return cached;
  const stdout = await programVersion(file);
  const m = /\(PostgreSQL\)\s+(\d+)/.exec(stdout);
  if (!m?.[1]) throw new NfrError('TOOL_FAILED', `cannot read the version of ${file}: ${stdout}`);
  const major = Number(m[1]);
  versionCache.set(file, major);
  return major;
}

const versionText = new Map<string, Promise<string>>();

/** Full version string of a program, e.g. "pg_dump (PostgreSQL) 15.18" (asked once per process). */
export function programVersion(file: string): Promise<string> {
  let text = versionText.get(file);
  if (!text) {
    text = runProgram(file, ['--version'], { timeoutMs: 10_000 }).then((r) => r.stdout.trim());
    versionText.set(file, text);
  }
  return text;
}

/**
 * The program of exactly the server's major version. pg_dump refuses newer servers and a newer
 * pg_restore may write archives an older server cannot read, so a mismatch is an error, not a guess.
 */
export async function findClientTool(program: 'pg_dump' | 'pg_restore' | 'psql', serverMajor: number, pgBinDir: string | undefined): Promise<string> {
  const found: string[] = [];
  for (const file of candidates(program, pgBinDir, serverMajor)) {
    const major = await programMajor(file);
    if (major === serverMajor) return file;
    found.push(`${file} (${major})`);
  }
  throw new NfrError(
    'TOOL_FAILED',
    `no ${program} for PostgreSQL ${serverMajor} found` +
      (found.length ? `; found only ${found.join(', ')}` : '') +
      `. Install the PostgreSQL ${serverMajor} client (e.g. apt-get install postgresql-client-${serverMajor}) or set PG_BIN_DIR.`,
  );
}

/** Server-side programs for the embedded cluster: the newest installed major unless PG_BIN_DIR says otherwise. */
export function findServerTool(program: 'initdb' | 'pg_ctl' | 'postgres', pgBinDir: string | undefined): string {
  const file = candidates(program, pgBinDir)[0];
  if (!file) {
    throw new NfrError(
      'TOOL_FAILED',
      `${program} not found (looked in PG_BIN_DIR, ${DEBIAN_ROOT}/*/bin and PATH). ` +
        'Install the PostgreSQL server (e.g. apt-get install postgresql) or set DATABASE_URL to use an existing server.',
    );
  }
  return file;
}
