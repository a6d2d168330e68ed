/** The `nfr` command line: builds the command tree and maps errors to exit codes. */
import { Command, CommanderError, Option } from 'commander';
import { ERROR_CODES, EXIT_MEANINGS } from '../errors.js';
import { NFR_VERSION } from '../version.js';
import { reportError } from './output.js';

type Register = (program: Command) => void;

/**
 * Command groups, loaded on demand: a command imports only its own group, so `nfr snapshot
 * create` does not pay for loading the HTTP server, the Qdrant client or the CSV parser.
 */
const GROUPS: Record<string, () => Promise<Register>> = {
  db: async () => (await import('./db.js')).registerDbCommands,
  snapshot: async () => (await import('./snapshot.js')).registerSnapshotCommands,
  ingest: async () => (await import('./ingest.js')).registerIngestCommands,
  index: async () => (await import('./search.js')).registerIndexCommands,
  sample: async () => (await import('./sample.js')).registerSampleCommands,
  pipeline: async () => (await import('./pipeline.js')).registerPipelineCommands,
  serve: async () => (await import('./serve.js')).registerServeCommand,
  control: async () => (await import('./control.js')).registerControlCommands,
  job: async () => (await import('./job.js')).registerJobCommands,
  schedule: async () => (await import('./schedule.js')).registerScheduleCommands,
};
/** `search` is registered by the same module as `index`. */
const ALIASES: Record<string, string> = { search: 'index' };

export const EXIT_CODES_HELP = `
Exit codes (the README's table):
${Object.entries(EXIT_MEANINGS)
  .map(([code, meaning]) => `  ${code.padEnd(3)} ${meaning.replace(/`/g, '')}`)
  .join('\n')}`;

export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('nfr')
    .description('nfr-connect: non-financial-risk data in PostgreSQL, with snapshots you can trust')
    .version(NFR_VERSION)
    .showHelpAfterError()
    .addHelpText('after', EXIT_CODES_HELP)
    // Before registering subcommands: they inherit it, so usage errors return instead of exiting.
    .exitOverride();
  const first = argv.slice(2).find((a) => !a.startsWith('-'));
  const group = first === undefined ? undefined : (ALIASES[first] ?? first);
  const load = group !== undefined && group in GROUPS ? [GROUPS[group] as () => Promise<Register>] : Object.values(GROUPS);
  for (const register of await Promise.all(load.map((l) => l()))) register(program);
  acceptYesEverywhere(program);
  return program;
}

/**
 * Scripts pass `--yes` (or the original system's `--skip-confirm`) to skip confirmations; on the
 * commands that never ask, it is accepted and changes nothing, instead of being a usage error.
 */
function acceptYesEverywhere(command: Command): void {
  for (const sub of command.commands) {
    if (sub.commands.length > 0) {
      acceptYesEverywhere(sub);
      continue;
    }
    const has = (flag: string) => sub.options.some((o) => o.long === flag || o.short === flag);
    if (!has('--yes')) sub.addOption(new Option(has('-y') ? '--yes' : '-y, --yes', 'accepted for scripts; this command asks nothing').hideHelp());
    if (!has('--skip-confirm')) sub.addOption(new Option('--skip-confirm', 'same as --yes').hideHelp());
  }
}

/**
 * `--json` is every command's option; written before the command (`nfr --json snapshot list`)
 * it means the same, so it is moved after it.
 */
function jsonFlagLast(argv: readonly string[]): readonly string[] {
  const end = argv.indexOf('--');
  const options = end === -1 ? argv : argv.slice(0, end);
  if (!options.slice(2).includes('--json')) return argv;
  return [...options.filter((a, i) => i < 2 || a !== '--json'), '--json', ...(end === -1 ? [] : argv.slice(end))];
}

/** Runs the CLI; resolves to the process exit code, which bin/nfr.js sets (only `nfr serve` ends the process itself, on shutdown). */
export async function main(rawArgv: readonly string[]): Promise<number> {
  const argv = jsonFlagLast(rawArgv);
  const program = await buildProgram(argv);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv as string[]);
    // A command that hands its exit code on (`nfr db psql` returns psql's) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end with a CommanderError too, with exit code 0.
      if (err.exitCode === 0) return 0;
      // Commander has printed the problem and the usage on stderr; scripts get it as JSON too.
      if (json) process.stdout.write(JSON.stringify({ error: { code: 'USAGE', message: err.message.replace(/^error: /, '') } }, null, 2) + '\n');
      return ERROR_CODES.USAGE.exit;
    }
    return reportError(err, json);
  }
}
