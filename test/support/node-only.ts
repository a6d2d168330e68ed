/**
 * Runs the built `nfr` as on a machine with only Node: in a private mount namespace where the
 * system's PostgreSQL is hidden (test/support/hide-postgres.ts). Needs root and `unshare`.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { type Env, NFR_BIN, type NfrResult } from './cli.js';
import { spawn } from 'node:child_process';

const HIDE_POSTGRES = fileURLToPath(new URL('./hide-postgres.js', import.meta.url));

/** Why the system's PostgreSQL cannot be hidden here, or undefined when it can. */
export function cannotHideSystemPostgres(): string | undefined {
  if (process.getuid?.() !== 0) return 'hiding the system PostgreSQL needs root (a mount namespace)';
  const probe = spawnSync('unshare', ['--mount', 'true']);
  if (probe.status !== 0) return `unshare --mount does not work here: ${probe.error?.message ?? probe.stderr.toString()}`;
  return undefined;
}

/** `nfr args...` with the system's PostgreSQL binaries out of sight, and the directories in `alsoHide`. */
export function nfrWithoutSystemPostgres(args: readonly string[], env: Env, cwd: string, alsoHide: readonly string[] = []): Promise<NfrResult> {
  return new Promise((resolve, reject) => {
    const hide = alsoHide.flatMap((dir) => ['--hide', dir]);
    const child = spawn('unshare', ['--mount', process.execPath, HIDE_POSTGRES, ...hide, process.execPath, NFR_BIN, ...args], {
      env: env as NodeJS.ProcessEnv,
      cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
  });
}
