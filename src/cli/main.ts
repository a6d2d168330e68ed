/** The `nfr` command line: builds the command tree and maps errors to exit codes. */
import { Command, CommanderError, Help, Option } from 'commander';
import { ERROR_CODES, EXIT_MEANINGS } from '../errors.js';
import { timing } from '../util/timing.js';
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
  alert: async () => (await import('./alert.js')).registerAlertCommands,
  audit: async () => (await import('./audit.js')).registerAuditCommand,
};
/** `search` is registered by the same module as `index`. */
const ALIASES: Record<string, string> = { search: 'index' };

/**
 * Commands run often enough, or timed closely enough, to load less than their whole group: `nfr
 * snapshot list` registers the snapshot group with only itself (its help and its errors are the
 * same as in the group), and `nfr snapshot create`, whose pg_dump starts once it is loaded.
 */
const SINGLE_COMMANDS: Record<string, () => Promise<Register>> = {
  'snapshot list': async () => (await import('./snapshot-list.js')).registerSnapshotListGroup,
  'snapshot create': async () => (await import('./snapshot-create.js')).registerSnapshotCreateGroup,
};

/**
 * What `nfr --help` lists, so the list loads no group at all (every group would cost more than
 * node's own start-up). test/cli-startup.test.ts keeps it equal to what the groups register: a
 * new group adds its line here.
 */
export const COMMAND_LIST: readonly (readonly [term: string, description: string])[] = [
  ['db', 'schema migrations and the embedded PostgreSQL cluster'],
  ['snapshot', 'take, list, verify, restore and prune PostgreSQL snapshots'],
  ['ingest', 'load context providers and controls into PostgreSQL'],
  ['index [options]', 'sync the vector index with the current controls (incremental by text hash)'],
  ['search [options] <text>', 'find controls: hybrid (keywords and meaning, ids first) by default'],
  ['sample', 'write sample context files and a controls CSV to ingest'],
  ['pipeline', 'run the whole pipeline with checkpoints'],
  ['serve [options]', 'serve the HTTP API (snapshots, pipeline, search, jobs)'],
  ['control', 'look at one control: attributes, links, enrichment, history'],
  ['job', 'the jobs `nfr serve` runs (any server sharing the database)'],
  ['schedule', 'snapshots on a schedule (cron with a time zone), run by `nfr serve`'],
  ['alert', 'webhook alerts (NFR_ALERT_WEBHOOK_URL)'],
  ['audit [options]', 'who did what, when, from where, and how it ended (snapshots, restores, uploads, ...), newest first'],
];

/**
 * The commands recorded in the audit trail (what each records: AUDITED_COMMANDS in
 * audit-trail.ts, loaded only for these; a test holds the two lists equal).
 */
export const AUDITED_PATHS: ReadonlySet<string> = new Set([
  'snapshot create', 'snapshot restore', 'snapshot delete', 'snapshot verify', 'snapshot warm', 'snapshot cool', 'snapshot prune', 'snapshot recover', 'snapshot push',
  'ingest controls', 'ingest context', 'index', 'pipeline run', 'job cancel', 'db migrate',
  'schedule add', 'schedule remove', 'schedule pause', 'schedule resume',
]);

export const EXIT_CODES_HELP = `
Exit codes (the README's table):
${Object.entries(EXIT_MEANINGS)
  .map(([code, meaning]) => `  ${code.padEnd(3)} ${meaning.replace(/`/g, '')}`)
  .join('\n')}`;

/**
 * The command tree for `argv`: only the group its command belongs to; for the top-level help (no
 * command, or `help` alone) only the list above; with `allGroups`, or an unknown command, all.
 */
export async function buildProgram(argv: readonly string[] = [], options: { allGroups?: boolean } = {}): Promise<Command> {
  const program = new Command('nfr')
    .description('nfr-connect: non-financial-risk data in PostgreSQL, with snapshots you can trust')
    .version(NFR_VERSION)
    .showHelpAfterError()
    .addHelpText('after', EXIT_CODES_HELP)
    // Before registering subcommands: they inherit it, so usage errors return instead of exiting.
    .exitOverride();
  const positional = argv.slice(2).filter((a) => !a.startsWith('-'));
  // `nfr help snapshot` is help for the snapshot group.
  const first = positional[0] === 'help' ? positional[1] : positional[0];
  if (first === undefined && !options.allGroups) {
    listCommands(program);
    return program;
  }
  const group = first === undefined ? undefined : (ALIASES[first] ?? first);
  const single = positional[0] === 'help' || options.allGroups ? undefined : SINGLE_COMMANDS[`${group} ${positional[1]}`];
  const load = single ? [single] : !options.allGroups && group !== undefined && group in GROUPS ? [GROUPS[group] as () => Promise<Register>] : Object.values(GROUPS);
  for (const register of await Promise.all(load.map((l) => l()))) register(program);
  acceptYesEverywhere(program);
  // Commands that change state are recorded in the audit trail before they run, or alongside
  // their first steps when those change nothing anyone sees (audit-trail.ts).
  program.hook('preAction', async (_program, command) => {
    const path = commandPath(command);
    if (!AUDITED_PATHS.has(path)) return;
    auditing = true;
    const trail = await import('./audit-trail.js');
    if (trail.RECORDED_ALONGSIDE.has(path)) {
      await trail.startCliAuditAlongside(command, path);
      return;
    }
    await trail.startCliAudit(command, path);
    timing('cli: audit start recorded');
  });
  return program;
}

/** `snapshot create` for the command `create` under `snapshot` under the program. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Placeholder commands that show COMMAND_LIST in the help, each printed with its usage term. */
function listCommands(program: Command): void {
  const terms = new Map<string, string>();
  for (const [term, description] of COMMAND_LIST) {
    const name = term.split(' ')[0] as string;
    terms.set(name, term);
    program.command(name).description(description);
  }
  const help = new Help();
  program.configureHelp({ subcommandTerm: (cmd) => terms.get(cmd.name()) ?? help.subcommandTerm(cmd) });
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

/** Whether an audited command started (only then is audit-trail.ts loaded again at the end). */
let auditing = false;

/** Records the outcome of an audited command, if one ran. */
async function endAudit(err?: unknown): Promise<void> {
  if (!auditing) return;
  const { endCliAudit } = await import('./audit-trail.js');
  await endCliAudit(err);
  timing('cli: audit end recorded');
}

/** Runs the CLI; resolves to the process exit code, which bin/nfr.js sets (only `nfr serve` ends the process itself, on shutdown). */
export async function main(rawArgv: readonly string[]): Promise<number> {
  timing('cli: main');
  const argv = jsonFlagLast(rawArgv);
  const program = await buildProgram(argv);
  timing('cli: commands loaded');
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv as string[]);
    timing('cli: command done');
    await endAudit();
    // A command that hands its exit code on (`nfr db psql` returns psql's) sets process.exitCode.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    await endAudit(err);
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
