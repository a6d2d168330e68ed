/** `nfr ingest ...`: the ingestion stages. */
import type { Command } from 'commander';
import { registerContextIngest } from './ingest-context.js';
import { registerControlsIngest } from './ingest-controls.js';

export function registerIngestCommands(program: Command): void {
  const ingest = program.command('ingest').description('load context providers and controls into PostgreSQL');
  registerContextIngest(ingest);
  registerControlsIngest(ingest);
}
