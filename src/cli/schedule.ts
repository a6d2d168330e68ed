/** `nfr schedule add|list|remove|pause|resume`: snapshot schedules, which `nfr serve` runs. */
import type { Command } from 'commander';
import { ScheduleStore, type Schedule, type ScheduleRun } from '../schedules/store.js';
import { cliActor, withControlPool } from './job.js';
import { emit, table } from './output.js';

const withSchedules = <T>(fn: (store: ScheduleStore) => Promise<T>) => withControlPool((pool) => fn(new ScheduleStore(pool)));

export function registerScheduleCommands(program: Command): void {
  const schedule = program.command('schedule').description('snapshots on a schedule (cron with a time zone), run by `nfr serve`');
  schedule
    .command('add')
    .description('add a schedule: each tick creates a snapshot named "<name> <local date and time>", tagged scheduled and <name>')
    .requiredOption('--name <name>', 'the schedule\'s name (letters, digits, _ . -)')
    .requiredOption('--cron <expression>', 'five fields: minute hour day-of-month month day-of-week, e.g. "0 9-17 * * 1-5"')
    .option('--tz <zone>', 'IANA time zone the expression is read in', 'UTC')
    .option('--full', 'full snapshots (vector index and ingested files too)')
    .option('--warm', 'keep a warm copy of each snapshot')
    .option('--tag <tag>', 'another tag for each snapshot (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('--prune', 'apply retention after each snapshot')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; cron: string; tz: string; full?: boolean; warm?: boolean; tag: string[]; prune?: boolean; json?: boolean }) => {
      const added = await withSchedules((s) => s.add({ name: opts.name, cron: opts.cron, tz: opts.tz, full: opts.full, warm: opts.warm, tags: opts.tag, prune: opts.prune }, cliActor()));
      emit(opts, added, (a) => `schedule ${a.name} added: "${a.cron}" in ${a.tz}; next run ${a.next_run_at ?? '-'}${a.prune ? ', then retention' : ''}`);
    });
  schedule
    .command('list')
    .description('schedules with their cron, zone, next run and last run (its snapshot or error)')
    .option('--json', 'print JSON')
    .action(async (opts: { json?: boolean }) => {
      const schedules = await withSchedules((s) => s.list());
      emit(opts, { schedules }, (r) => (r.schedules.length === 0 ? 'no schedules (add one with `nfr schedule add --name NAME --cron "0 2 * * *"`)' : renderList(r.schedules)));
    });
  schedule
    .command('remove')
    .description('remove a schedule (its history stays; a run already queued still runs)')
    .requiredOption('--name <name>', 'the schedule')
    .option('--json', 'print JSON')
    .action(async (opts: { name: string; json?: boolean }) => {
      const removed = await withSchedules((s) => s.remove(opts.name));
      emit(opts, removed, (r) => `schedule ${r.name} removed`);
    });
  for (const action of ['pause', 'resume'] as const) {
    schedule
      .command(action)
      .description(action === 'pause' ? 'pause a schedule: its ticks are neither run nor counted as missed' : 'resume a paused schedule from now')
      .requiredOption('--name <name>', 'the schedule')
      .option('--json', 'print JSON')
      .action(async (opts: { name: string; json?: boolean }) => {
        const changed = await withSchedules((s) => s.setPaused(opts.name, action === 'pause'));
        emit(opts, changed, (c) => `schedule ${c.name} ${c.paused ? 'paused' : `resumed; next run ${c.next_run_at ?? '-'}`}`);
      });
  }
}

function describeRun(r: ScheduleRun | null): string {
  if (!r) return 'never';
  const at = r.tick_at.slice(0, 16).replace('T', ' ');
  if (r.outcome !== 'queued') return `${at} ${r.outcome}${r.missed_ticks > 1 ? ` (${r.missed_ticks} ticks)` : ''}: ${r.reason ?? ''}`;
  if (r.job_status === 'completed') return `${at} ${r.snapshot_id ?? 'completed'}`;
  if (r.job_status === 'failed' || r.job_status === 'cancelled') return `${at} ${r.job_status}: ${r.error?.code ?? ''} ${r.error?.message ?? ''}`;
  return `${at} ${r.job_status ?? 'queued'} (job ${r.job_id})`;
}

function renderList(schedules: readonly Schedule[]): string {
  return table(
    ['NAME', 'CRON', 'ZONE', 'OPTIONS', 'NEXT RUN (UTC)', 'LAST RUN (UTC)'],
    schedules.map((s) => [
      s.name,
      s.cron,
      s.tz,
      [s.full ? 'full' : '', s.warm ? 'warm' : '', s.prune ? 'prune' : '', s.paused ? 'PAUSED' : '', ...s.tags.map((t) => `#${t}`)].filter(Boolean).join(' ') || '-',
      s.next_run_at ? s.next_run_at.slice(0, 16).replace('T', ' ') : 'paused',
      describeRun(s.last_run),
    ]),
  );
}
