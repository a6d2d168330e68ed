/** `nfr job cancel ID` and `nfr job show ID`: the jobs `nfr serve` runs, from the command line. */
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import pg from 'pg';
import { loadConfig } from '../config.js';
import { NfrError } from '../errors.js';
import { openControlDatabase } from '../jobs/control-db.js';
import { JobStore, type Job } from '../jobs/store.js';
import { openContext } from '../pipeline/context.js';
import { clientConfig } from '../postgres/connection.js';
import { emit } from './output.js';

/** How long `cancel` waits for a running job to reach its next safe point before it answers. */
const CANCEL_WAIT_MS = 120_000;

/** Who a command-line user is, as records name them. */
export function cliActor(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry (a container's arbitrary uid)
  }
  return `cli:${user}`;
}

/** Sessions on the control database (created and migrated if needed) for the length of `fn`. */
export async function withControlPool<T>(fn: (pool: pg.Pool, database: string) => Promise<T>): Promise<T> {
  const ctx = await openContext(loadConfig());
  const control = await openControlDatabase(ctx);
  const pool = new pg.Pool({ ...clientConfig(control, 'nfr cli'), max: 2 });
  pool.on('error', () => {});
  try {
    return await fn(pool, control.database);
  } finally {
    await pool.end().catch(() => {});
  }
}

function withJobStore<T>(fn: (store: JobStore) => Promise<T>): Promise<T> {
  return withControlPool((pool, database) => fn(new JobStore(pool, undefined, database)));
}

export function registerJobCommands(program: Command): void {
  const job = program.command('job').description('the jobs `nfr serve` runs (any server sharing the database)');
  job
    .command('cancel')
    .description('cancel a queued job at once, or a running one at its next safe point (waits for it to stop)')
    .argument('<id>', 'the job id')
    .option('--no-wait', 'answer as soon as the cancel is recorded')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { wait: boolean; json?: boolean }) => {
      const result = await withJobStore(async (store) => {
        const asked = await store.cancel(id, cliActor());
        if (!opts.wait || asked.status !== 'running') return asked;
        return (await store.waitFinished(id, CANCEL_WAIT_MS)) ?? asked;
      });
      emit(opts, result, renderCancel);
    });
  job
    .command('show')
    .description('one job: status, step, progress, result or error')
    .argument('<id>', 'the job id')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const found = await withJobStore((store) => store.get(id));
      if (!found) throw new NfrError('NOT_FOUND', `no job ${id}`);
      emit(opts, found, (j) => `${j.job_id}  ${j.kind}  ${j.status}  ${j.current_step ?? ''}${j.error ? `\n  ${j.error.code}: ${j.error.message}` : ''}`);
    });
}

function renderCancel(j: Job): string {
  if (j.status === 'cancelled') return `job ${j.job_id} (${j.kind}) cancelled by ${j.cancelled_by ?? 'someone'}: ${j.error?.message ?? ''}`;
  if (j.status === 'running' || j.status === 'pending') return `job ${j.job_id} (${j.kind}) was asked to stop; it is still ${j.status} at step "${j.current_step ?? 'unknown'}" and stops at its next safe point (\`nfr job show ${j.job_id}\`)`;
  const late = typeof j.result === 'object' && j.result !== null && 'cancel_too_late' in j.result ? ` — ${String((j.result as { cancel_too_late: unknown }).cancel_too_late)}` : '';
  return `job ${j.job_id} (${j.kind}) ended ${j.status}${late}${j.error ? `: ${j.error.message}` : ''}`;
}
