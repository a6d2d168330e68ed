/**
 * Runs a program on a machine that looks as if only Node were installed: started by
 * `unshare --mount` (see nfrWithoutSystemPostgres), it mounts an empty read-only tmpfs over the
 * system's PostgreSQL (server binaries and Debian's pg_wrapper behind /usr/bin/psql, pg_dump...)
 * and over each `--hide DIR` given first, in its private mount namespace (the mounts vanish with
 * it: nothing is left behind), then runs the rest of argv there and exits with its code.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const HIDDEN_POSTGRES_DIRS = ['/usr/lib/postgresql', '/usr/share/postgresql-common'] as const;

function main(): void {
  const argv = process.argv.slice(2);
  const hidden: string[] = [...HIDDEN_POSTGRES_DIRS];
  while (argv[0] === '--hide' && argv[1] !== undefined) {
    hidden.push(argv[1]);
    argv.splice(0, 2);
  }
  const [program, ...args] = argv;
  if (!program) throw new Error('usage: hide-postgres.js [--hide DIR]... PROGRAM [ARGS...]');
  // Mounts made here must not leak to the host, whatever the host's propagation default.
  run('mount', ['--make-rprivate', '/']);
  for (const dir of hidden) if (existsSync(dir)) run('mount', ['-t', 'tmpfs', '-o', 'ro,size=4k,mode=755', 'nfr-empty', dir]);
  const r = spawnSync(program, args, { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

function run(program: string, args: string[]): void {
  const r = spawnSync(program, args, { stdio: 'inherit' });
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${r.status ?? r.error?.message})`);
}

main();
