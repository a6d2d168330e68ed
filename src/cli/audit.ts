/** `nfr audit`: the audit trail, newest first. A read: it never creates the control database. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { sqlState } from '../errors.js';
import { listAudit, MAX_AUDIT_LIMIT, parseSince, type AuditEntry } from '../jobs/audit.js';
import { controlDatabaseName } from '../jobs/control-db.js';
import { openContext } from '../pipeline/context.js';
import { connect, withDatabase } from '../postgres/connection.js';
import { intFlag } from './flags.js';
import { emit, table } from './output.js';

export function registerAuditCommand(program: Command): void {
  program
    .command('audit')
    .description('who did what, when, from where, and how it ended (snapshots, restores, uploads, ...), newest first')
    .option('--since <time>', 'only entries since then: ISO 8601 (2026-12-06T10:00:00Z) or a duration back from now (30m, 24h, 7d)')
    .option('--limit <n>', `at most this many entries (default 50, at most ${MAX_AUDIT_LIMIT})`, intFlag('--limit', 1, MAX_AUDIT_LIMIT))
    .option('--json', 'print {entries, next_cursor} as JSON')
    .action(async (opts: { since?: string; limit?: number; json?: boolean }) => {
      const since = opts.since === undefined ? undefined : parseSince(opts.since, '--since');
      const ctx = await openContext(loadConfig());
      const control = withDatabase(ctx.target, controlDatabaseName(ctx));
      let page: { entries: AuditEntry[]; next_cursor: string | null } = { entries: [], next_cursor: null };
      try {
        const client = await connect(control, 'nfr audit');
        try {
          page = await listAudit(client, { since, limit: opts.limit });
        } finally {
          await client.end().catch(() => {});
        }
      } catch (err) {
        // No control database yet (3D000), or one from before the trail (42P01): nothing recorded.
        const code = sqlState(err) ?? sqlState((err as { cause?: unknown }).cause);
        if (code !== '3D000' && code !== '42P01') throw err;
      }
      emit(opts, page, (r) => {
        if (r.entries.length === 0) return 'no audit entries';
        const who = (e: AuditEntry) => (e.actor_kind === 'cli' ? `cli:${e.actor_name}` : `${e.actor_name} (${e.actor_role ?? e.actor_kind})`);
        const rows = r.entries.map((e) => [
          e.at.replace('T', ' ').slice(0, 19),
          who(e),
          e.action,
          e.target ?? '-',
          e.client_ip ?? e.host,
          e.status === 'failed' ? `failed ${e.error_code ?? ''}`.trim() : e.status,
          e.job_id ?? '-',
        ]);
        return table(['AT (UTC)', 'WHO', 'ACTION', 'TARGET', 'FROM', 'OUTCOME', 'JOB'], rows);
      });
    });
}
