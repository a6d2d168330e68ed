import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function registerContextIngest(_parent: Command): void {}
