/**
 * The tree shows the architecture, and this keeps it true: imports point one way, from the edges
 * (CLI, server) through the pipeline to the stages and down to the infrastructure, never back.
 * And what is written once stays written once: the exit codes the README lists are the code's.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ERROR_CODES, EXIT_MEANINGS } from '../src/errors.js';
import { isUploadId, uploadIdInName } from '../src/ingest/uploads.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const SRC = path.join(REPO, 'src');

/**
 * Each top-level folder (or file) of src/ and its layer; a module may import its own folder and
 * folders of higher layers only. Stages come in the order their data flows backwards: search reads
 * the index, the index embeds with enrichment's models, enrichment reads what ingestion wrote.
 */
const LAYERS: Record<string, number> = {
  cli: 0, // edges
  server: 1,
  alerts: 1.4, // what the server watches and tells webhooks about
  schedules: 1.6, // snapshot schedules, run by the server through the job queue
  pipeline: 2, // sequences of stages, the queue's tasks, the context the edges open
  search: 3, // stages
  snapshot: 3,
  controls: 3,
  sample: 3,
  index: 4,
  enrich: 5,
  ingest: 6,
  jobs: 7, // infrastructure
  runtime: 8,
  postgres: 9,
  config: 10,
  util: 10,
  errors: 11,
  version: 11,
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

const folderOf = (file: string) => path.relative(SRC, file).split(path.sep)[0]!.replace(/\.ts$/, '');

describe('architecture', () => {
  it('has every module in a layer, and imports only pointing down the layers', () => {
    const wrong: string[] = [];
    for (const file of sources(SRC)) {
      const from = folderOf(file);
      assert.ok(from in LAYERS, `src/${from} has no layer in this test: add it where it belongs`);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/(?:from |import\()'(\.{1,2}\/[^']+)'/g)) {
        const to = folderOf(path.resolve(path.dirname(file), m[1]!.replace(/\.js$/, '.ts')));
        if (to === from) continue;
        if (!(LAYERS[to]! > LAYERS[from]!)) wrong.push(`${path.relative(REPO, file)} imports ${m[1]} (${from} → ${to})`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('lists in the README exactly the exit codes the code has, with the same meanings', () => {
    const readme = readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### Exit codes'));
    const rows = [...section.slice(0, section.indexOf('\n## ')).matchAll(/^\| (\d+) \| (.+) \|$/gm)].map((m) => [Number(m[1]), m[2]] as const);
    assert.deepEqual(Object.fromEntries(rows), Object.fromEntries(Object.entries(EXIT_MEANINGS).map(([k, v]) => [Number(k), v])));
    for (const [code, { exit }] of Object.entries(ERROR_CODES)) assert.ok(exit in EXIT_MEANINGS, `${code} exits ${exit}, which has no meaning`);
  });

  it('reads upload ids one way: as ids and inside file names', () => {
    for (const id of ['UPL-2026-0001', 'UPL-2026-123456789']) {
      assert.ok(isUploadId(id), id);
      assert.equal(uploadIdInName(`${id}.csv`), id);
      assert.equal(uploadIdInName(`${id}.taxonomy.jsonl`), id);
    }
    for (const bad of ['UPL-2026-001', 'UPL-26-0001', 'UPL-2026-1234567890', 'upl-2026-0001']) {
      assert.ok(!isUploadId(bad), bad);
      assert.equal(uploadIdInName(`${bad}.csv`), undefined, bad);
    }
  });
});
