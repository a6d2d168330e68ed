/** Pipeline routes (SPEC §4): control and context ingestion, index sync/check, search, stage. */
import type { FastifyInstance } from 'fastify';
import type { ServerDeps } from '../app.js';

export function registerPipelineRoutes(_app: FastifyInstance, _deps: ServerDeps): void {}
