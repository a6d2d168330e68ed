import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function registerIndexCommands(_parent: Command): void {}
