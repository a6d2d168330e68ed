/**
 * The one place external programs are started: argument array, never a shell, an explicit
 * environment (passwords travel in PGPASSWORD, never in argv), abort signal and timeout, and the
 * tail of stderr kept for the error message.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { NfrError } from '../errors.js';

export interface RunOptions {
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Run as this OS user (used to drop root for initdb/postgres). */
  readonly uid?: number;
  readonly gid?: number;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
  /** Called for each complete line the program writes to stderr. */
  readonly onStderrLine?: (line: string) => void;
  /** Exit codes treated as success (default: only 0). */
  readonly okExitCodes?: readonly number[];
}

export interface RunResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

const KEEP_BYTES = 64 * 1024;

/** Runs a program to completion; throws NfrError('TOOL_FAILED') on a non-success exit. */
export function runProgram(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      shell: false,
      cwd: options.cwd,
      env: cleanEnv(options.env ?? process.env),
      uid: options.uid,
      gid: options.gid,
      signal: options.signal,
      timeout: options.timeoutMs,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout = keepTail(stdout + chunk);
    });
    child.stderr.on('data', (chunk: string) => {
      stderr = keepTail(stderr + chunk);
      if (options.onStderrLine) {
        partial += chunk;
        const lines = partial.split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) options.onStderrLine(line);
      }
    });
    child.on('error', (err) => {
      const name = path.basename(command);
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new NfrError('TOOL_FAILED', `${name} not found at ${command}`, { cause: err }));
      } else if (err.name === 'AbortError') {
        reject(new NfrError('ABORTED', `${name} was cancelled`, { cause: err }));
      } else {
        reject(new NfrError('TOOL_FAILED', `${name} could not be started: ${err.message}`, { cause: err }));
      }
    });
    child.on('close', (code, signal) => {
      if (partial && options.onStderrLine) options.onStderrLine(partial);
      const exitCode = code ?? 128;
      const ok = options.okExitCodes ?? [0];
      if (signal === null && ok.includes(exitCode)) {
        resolve({ exitCode, stdout, stderr });
        return;
      }
      const how = signal ? `was killed by ${signal}` : `exited with code ${exitCode}`;
      const detail = lastLines(stderr, 8) || lastLines(stdout, 8);
      // A tool reports a full disk only in words (strerror(ENOSPC)): the one case read from text,
      // because the operator must know it is space, not the tool, that failed.
      const full = /No space left on device|Disk quota exceeded|could not extend file/.test(stderr);
      reject(
        new NfrError(full ? 'DISK_FULL' : 'TOOL_FAILED', `${path.basename(command)} ${how}${full ? ' because a disk is full' : ''}${detail ? `:\n${detail}` : ''}`, {
          details: { command: path.basename(command), exitCode, signal },
        }),
      );
    });
  });
}

/**
 * Runs a program on this terminal (stdin, stdout and stderr inherited) and resolves to its exit
 * code. While it runs, Ctrl-C belongs to it (psql cancels its query) rather than to us.
 */
export function runInteractive(command: string, args: readonly string[], env: Readonly<Record<string, string | undefined>>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ignore = () => {};
    process.on('SIGINT', ignore);
    const child = spawn(command, args, { shell: false, env: cleanEnv(env), stdio: 'inherit' });
    child.on('error', (err) => {
      process.off('SIGINT', ignore);
      reject(new NfrError('TOOL_FAILED', `${path.basename(command)} could not be started: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      process.off('SIGINT', ignore);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

function keepTail(s: string): string {
  return s.length > KEEP_BYTES ? s.slice(s.length - KEEP_BYTES) : s;
}

function lastLines(s: string, n: number): string {
  return s.trim().split('\n').slice(-n).join('\n');
}

/** Drops undefined values so they are not passed as the string "undefined". */
function cleanEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** Whether a process with this pid exists on this host (EPERM: it does, as another user). */
export function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
