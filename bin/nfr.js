#!/usr/bin/env node
// The package's executable: the compiled CLI (built by `npm run build`, which `npm ci` runs via `prepare`).
import module from 'node:module';

// Node 22+ keeps V8's compiled code between runs, so every command after the first starts faster;
// on Node 20 there is no such cache and this does nothing.
module.enableCompileCache?.();
const { main } = await import('../dist/src/cli/main.js');

main(process.argv).then((code) => {
  process.exitCode = code;
});
