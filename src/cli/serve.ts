/** `nfr serve`: the HTTP API. First SIGINT/SIGTERM shuts down gracefully, a second one forces. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { intFlag } from './flags.js';
import { startServer } from '../server/serve.js';
import { heldUntilOpen, humanReadable, serverLogger } from '../server/log.js';

/** Shorter tokens are accepted (development) but warned about. */
const MIN_TOKEN_LENGTH = 16;

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API (snapshots, pipeline, search, jobs)')
    .option('--host <host>', 'address to listen on (default NFR_API_HOST or 127.0.0.1)')
    .option('--port <port>', 'port (default NFR_API_PORT or 8080; 0 picks a free one)', intFlag('--port', 0, 65535, 'a port number from 0 to 65535'))
    .option('--json', 'once listening, print {url, interrupted_jobs, migrated, warnings} as one JSON line on stdout')
    .action(async (opts: { host?: string; port?: number; json?: boolean }) => {
      const config = loadConfig();
      // JSON lines on stdout; readable lines when a person watches a terminal. Held back until the
      // start-up lines are out, so `--json`'s object is the first line of stdout.
      const destination = heldUntilOpen(process.stdout.isTTY && !opts.json ? humanReadable(process.stdout) : process.stdout);
      const log = serverLogger(config, destination);
      const server = await startServer(config, { host: opts.host, port: opts.port, log }).catch((err: unknown) => {
        destination.open();
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') {
          const where = `${opts.host ?? config.apiHost}:${opts.port ?? config.apiPort}`;
          const why = code === 'EADDRINUSE' ? 'the port is in use' : code === 'EACCES' ? 'permission denied' : code === 'EADDRNOTAVAIL' ? 'no such address here' : 'the host name does not resolve';
          throw new NfrError('CONFIG', `cannot listen on ${where}: ${why}; choose another with --port/--host or NFR_API_PORT/NFR_API_HOST`, { cause: err });
        }
        throw err;
      });
      const warnings = [...server.warnings];
      // No tokens is safe (every route but /health refuses), but almost certainly not what was meant.
      if (config.apiTokens.length === 0) warnings.push('API_TOKENS is empty, so every route but /health answers 401; set e.g. API_TOKENS=admin:<a long random token>');
      const short = config.apiTokens.filter((t) => t.token.length < MIN_TOKEN_LENGTH).map((t) => t.name);
      if (short.length > 0) warnings.push(`API_TOKENS: the ${short.join(', ')} token(s) are shorter than ${MIN_TOKEN_LENGTH} characters and easy to guess; use long random tokens (e.g. openssl rand -hex 24)`);
      if (server.migrated.length > 0) process.stderr.write(`nfr serve: migrated the database to ${server.migrated[server.migrated.length - 1]}\n`);
      process.stderr.write(`nfr serve listening on ${server.url}${server.interruptedJobs ? ` (${server.interruptedJobs} interrupted job(s) marked failed)` : ''}\n`);
      for (const w of warnings) process.stderr.write(`nfr serve: warning: ${w}\n`);
      if (opts.json) process.stdout.write(`${JSON.stringify({ url: server.url, interrupted_jobs: server.interruptedJobs, migrated: server.migrated, warnings })}\n`);
      destination.open();
      await new Promise<void>((resolve) => {
        let signals = 0;
        const onSignal = (signal: NodeJS.Signals) => {
          signals++;
          if (signals > 1) {
            process.stderr.write(`nfr serve: ${signal} again, exiting now\n`);
            process.exit(130);
          }
          process.stderr.write(`nfr serve: ${signal}, shutting down (again to force)\n`);
          void server.close().then(resolve, resolve);
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      // A job that outlived the grace period (now marked failed) may still hold connections or
      // children that would keep the process alive: exit once the rest has had a moment.
      setTimeout(() => process.exit(0), 1000).unref();
    });
}
