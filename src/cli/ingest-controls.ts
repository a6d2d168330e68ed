import type { Command } from 'commander';

/** Placeholder until this command lands. */
export function registerControlsIngest(_parent: Command): void {}
