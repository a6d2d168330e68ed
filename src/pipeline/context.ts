/**
 * Opens the context the edges (CLI commands, the server) run stages in: the runtime's context
 * with recovery (pipeline/recover.ts) as its repair step, so any operation first cleans up what a killed one
 * left.
 */
import type { Config } from '../config.js';
import { openRuntimeContext, type Context } from '../runtime/context.js';
import { recoverAll } from './recover.js';

export function openContext(config: Config): Promise<Context> {
  return openRuntimeContext(config, recoverAll);
}
