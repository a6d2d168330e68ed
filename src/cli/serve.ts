/** `nfr serve`: the HTTP API. First SIGINT/SIGTERM shuts down gracefully, a second one forces. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { startServer } from '../server/serve.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the HTTP API (snapshots, pipeline, search, jobs)')
    .option('--host <host>', 'address to listen on (default NFR_API_HOST or 127.0.0.1)')
    .option('--port <port>', 'port (default NFR_API_PORT or 8080; 0 picks a free one)')
    .action(async (opts: { host?: string; port?: string }) => {
      if (opts.port !== undefined && !/^\d{1,5}$/.test(opts.port)) throw new NfrError('USAGE', `--port ${opts.port}: expected a port number`);
      const config = loadConfig();
      const server = await startServer(config, { host: opts.host, port: opts.port === undefined ? undefined : Number(opts.port) });
      process.stderr.write(`nfr serve listening on ${server.url}${server.interruptedJobs ? ` (${server.interruptedJobs} interrupted job(s) marked failed)` : ''}\n`);
      // No tokens is safe (every route but /health refuses), but almost certainly not what was meant.
      if (config.apiTokens.length === 0) process.stderr.write('nfr serve: warning: API_TOKENS is empty, so every route but /health answers 401; set e.g. API_TOKENS=admin:<a long random token>\n');
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
    });
}
