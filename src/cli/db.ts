/** `nfr db ...`: migrations and the embedded cluster. */
import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { embeddedCluster } from '../postgres/cluster.js';
import { resolveTarget, withClient } from '../postgres/connection.js';
import { migrateToHead, migrationStatus } from '../postgres/migrate.js';
import { databaseUrl, runPsql } from '../postgres/psql.js';
import { emit } from './output.js';

interface Common {
  json?: boolean;
}

export function registerDbCommands(program: Command): void {
  const db = program.command('db').description('schema migrations and the embedded PostgreSQL cluster');

  db.command('migrate')
    .description('apply pending migrations (the schema version becomes the code\'s head)')
    .option('--json', 'print JSON')
    .action(async (opts: Common) => {
      const target = await resolveTarget(loadConfig());
      const applied = await migrateToHead(target);
      const status = await withClient(target, migrationStatus);
      emit(opts, { database: target.database, applied, schema_version: status.schemaVersion }, (r) =>
        r.applied.length ? `applied ${r.applied.join(', ')}; schema version ${r.schema_version}` : `already at schema version ${r.schema_version}`,
      );
    });

  db.command('status')
    .description('show the schema version and pending migrations')
    .option('--json', 'print JSON')
    .action(async (opts: Common) => {
      const config = loadConfig();
      const target = await resolveTarget(config);
      const status = await withClient(target, migrationStatus);
      const result = {
        database: target.database,
        server: `${target.host}:${target.port}`,
        embedded: config.databaseUrl === undefined,
        schema_version: status.schemaVersion,
        code_head: status.codeHead,
        up_to_date: status.pending.length === 0 && status.unknown.length === 0,
        applied: status.applied,
        pending: status.pending,
        unknown: status.unknown,
      };
      emit(opts, result, (r) =>
        [
          `database        ${r.database} on ${r.server}${r.embedded ? ' (embedded)' : ''}`,
          `schema version  ${r.schema_version ?? '(not migrated)'}`,
          `code head       ${r.code_head}`,
          r.pending.length ? `pending         ${r.pending.join(', ')} (run nfr db migrate)` : '',
          r.unknown.length ? `unknown         ${r.unknown.join(', ')} (the database is newer than this nfr)` : '',
        ]
          .filter(Boolean)
          .join('\n'),
      );
    });

  db.command('start')
    .description('start the embedded cluster (commands start it on demand anyway)')
    .option('--json', 'print JSON')
    .action(async (opts: Common) => {
      const config = loadConfig();
      const target = await resolveTarget(config);
      emit(opts, { embedded: config.databaseUrl === undefined, host: target.host, port: target.port, database: target.database }, (r) =>
        r.embedded ? `embedded cluster running on ${r.host}:${r.port}` : `using DATABASE_URL (${r.host}:${r.port}); nothing to start`,
      );
    });

  db.command('stop')
    .description('stop the embedded cluster')
    .option('--json', 'print JSON')
    .action(async (opts: Common) => {
      const config = loadConfig();
      const stopped = config.databaseUrl === undefined ? await embeddedCluster(config).stop() : false;
      emit(opts, { stopped, embedded: config.databaseUrl === undefined }, (r) =>
        !r.embedded ? 'DATABASE_URL is set: there is no embedded cluster to stop' : r.stopped ? 'embedded cluster stopped' : 'embedded cluster was not running',
      );
    });

  db.command('url')
    .description('print the live database\'s URL (the embedded cluster\'s or DATABASE_URL), password redacted')
    .option('--show-password', 'print the password in the URL')
    .option('--json', 'print JSON')
    .action(async (opts: Common & { showPassword?: boolean }) => {
      const result = await databaseUrl(loadConfig(), { showPassword: opts.showPassword });
      emit(opts, result, (r) =>
        [r.url, r.password_file && !r.password_shown ? `password in ${r.password_file} (or: nfr db url --show-password, nfr db psql)` : ''].filter(Boolean).join('\n'),
      );
    });

  db.command('psql')
    .description('open psql on the live database (arguments after -- go to psql; the password travels in PGPASSFILE)')
    .argument('[psql-args...]', 'passed to psql, e.g. nfr db psql -- -c "select 1"')
    // Every command takes --json (README): here it makes nfr's own errors JSON; what psql prints
    // stays psql's (its --csv or -At suit scripts).
    .option('--json', "print nfr's errors as JSON (psql's own output is unchanged)")
    .action(async (psqlArgs: string[]) => {
      process.exitCode = await runPsql(loadConfig(), psqlArgs);
    });
}
