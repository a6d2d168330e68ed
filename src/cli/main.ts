/** The `nfr` command line: builds the command tree and maps errors to exit codes. */
import { Command, CommanderError } from 'commander';
import { ERROR_CODES } from '../errors.js';
import { NFR_VERSION } from '../version.js';
import { registerDbCommands } from './db.js';
import { registerIngestCommands } from './ingest.js';
import { reportError } from './output.js';
import { registerPipelineCommands } from './pipeline.js';
import { registerSampleCommands } from './sample.js';
import { registerServeCommand } from './serve.js';
import { registerIndexCommands } from './search.js';
import { registerSnapshotCommands } from './snapshot.js';

export const EXIT_CODES_HELP = `
Exit codes:
  0   success
  1   internal error
  2   usage or configuration error
  3   another snapshot operation holds the lock
  4   not found
  5   schema version mismatch
  6   verification failed
  7   external tool (pg_dump, pg_restore, initdb) failed
  8   unhealthy (snapshot health)
  9   cancelled at the confirmation prompt
  10  database unavailable
  11  in use (sessions would not end)
  12  invalid input (bad id, name, tag, file or row)
  13  not authorised (API token missing or invalid)
  14  forbidden (API token lacks the role)`;

export function buildProgram(): Command {
  const program = new Command('nfr')
    .description('nfr-connect: non-financial-risk data in PostgreSQL, with snapshots you can trust')
    .version(NFR_VERSION)
    .showHelpAfterError()
    .addHelpText('after', EXIT_CODES_HELP)
    // Before registering subcommands: they inherit it, so usage errors return instead of exiting.
    .exitOverride();
  registerDbCommands(program);
  registerSnapshotCommands(program);
  registerIngestCommands(program);
  registerIndexCommands(program);
  registerSampleCommands(program);
  registerPipelineCommands(program);
  registerServeCommand(program);
  return program;
}

/** Runs the CLI; resolves to the process exit code. The only caller of process.exit is bin/nfr.js. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv as string[]);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with a CommanderError too, with exit code 0.
      return err.exitCode === 0 ? 0 : ERROR_CODES.USAGE.exit;
    }
    return reportError(err, json);
  }
}
