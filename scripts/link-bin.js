#!/usr/bin/env node
/**
 * Links `node_modules/.bin/nfr` to bin/nfr.js (run by `npm ci` and `npm install` through
 * `prepare`), so that `npx nfr` in the repository runs the executable directly.
 *
 * The package declares no `bin` on purpose: for a bin of the root package itself, npm exec first
 * installs that package into its own cache (~/.npm/_npx/<hash>, after reading the whole
 * node_modules tree) and runs it from there, about 0.15 s more CPU on every `npx nfr` command;
 * a command found in node_modules/.bin is run at once.
 */
import { chmodSync, mkdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const binDir = path.join(root, 'node_modules', '.bin');
const link = path.join(binDir, 'nfr');
const target = path.relative(binDir, path.join(root, 'bin', 'nfr.js'));

chmodSync(path.join(root, 'bin', 'nfr.js'), 0o755);
mkdirSync(binDir, { recursive: true });
let current;
try {
  current = readlinkSync(link);
} catch {
  current = undefined;
}
if (current !== target) {
  rmSync(link, { force: true });
  symlinkSync(target, link);
}
