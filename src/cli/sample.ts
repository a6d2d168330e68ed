import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function registerSampleCommands(_parent: Command): void {}
