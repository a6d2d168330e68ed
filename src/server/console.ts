/**
 * The web console's built files (`web/dist`, made by `npm run build`), served from the same
 * origin as the API. Only the files found at start are served, by exact name, so no request path
 * reaches the file system. Every view of the console is a URL of its own (`/snapshots`,
 * `/search?q=...`) that answers with the same page, so reload and back work.
 *
 * Every response carries a Content-Security-Policy without inline scripts and refuses framing:
 * the console shows names and messages from the data, and they must never run.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { listFiles } from '../util/fs.js';

/** Where `npm run build` puts the console, relative to the package root. */
export const CONSOLE_DIR = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

/** The console's views; each answers with index.html. */
const VIEWS = ['/', '/overview', '/snapshots', '/snapshots/:id', '/pipelines', '/search', '/controls/:id', '/audit'] as const;

export const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; " +
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
} as const;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
};

/**
 * Registers the console's routes; without a build the views say how to make one. Returns the
 * page (index.html) when built: the server answers unknown pages with it (404), and the console
 * shows its not-found view for the path.
 */
export async function registerConsole(app: FastifyInstance, dir = CONSOLE_DIR): Promise<Buffer | undefined> {
  const files = new Map<string, Buffer>();
  for (const rel of await listFiles(dir).catch(() => [] as string[])) {
    files.set('/' + rel.split(path.sep).join('/'), await readFile(path.join(dir, rel)));
  }
  const index = files.get('/index.html');
  const route = { config: { public: true }, schema: { hide: true } } as const;

  for (const view of VIEWS) {
    app.get(view, route, async (_request, reply) => {
      if (!index) {
        return reply.code(503).type('text/plain; charset=utf-8').send(`the web console is not built (no ${path.join(dir, 'index.html')}): run npm run build`);
      }
      // Never cached: a new build's asset names must reach the browser at once.
      return reply.type(TYPES['.html'] ?? 'text/html').header('cache-control', 'no-cache').send(index);
    });
  }
  for (const [url, body] of files) {
    if (url === '/index.html') continue;
    const hashed = url.startsWith('/assets/');
    app.get(url, route, async (_request, reply) =>
      reply
        .type(TYPES[path.extname(url)] ?? 'application/octet-stream')
        .header('cache-control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache')
        .send(body),
    );
  }
  return index;
}
