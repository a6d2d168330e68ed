/**
 * The GloVe embedder (the default; NFR_EMBEDDER=glove): its word table built once from the package and read
 * back, rebuilt when damaged, refused when the source is not the table it expects; vectors that
 * know meanings the hashing embedder cannot; and the pipeline, the CLI's search and the API's
 * answering with it on the NIST sample, including questions whose words no control contains.
 */
import assert from 'node:assert/strict';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfr, nfrJson, serveNfr, testEnv, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { query } from './support/data.js';
import { embedGlove, GLOVE_DIMENSION, GLOVE_MODEL, GLOVE_VOCABULARY, glovePackageFile, loadGloveTable, type GloveTable } from '../src/enrich/glove-embedder.js';
import { embedLocal } from '../src/enrich/local-embedder.js';
import { NfrError } from '../src/errors.js';

const READER = 'reader-token-glove-0123456789';
const cluster = fileCluster(setUp);
let env: Env;
let home: string;
let table: GloveTable;

async function setUp(): Promise<void> {
  const db = await cluster.createDatabase('glove');
  home = cluster.tempDir('glove-home');
  env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('glove-backups'), NFR_HOME: home, NFR_EMBEDDER: undefined, API_TOKENS: `reader:${READER}` });
  // No NFR_EMBEDDER: the default, GloVe. The pipeline builds the table under $NFR_HOME/models;
  // the tests below read that one.
  const run = await nfrJson(['pipeline', 'run', '--sample'], env);
  assert.equal(run.code, 0, run.stderr);
  table = await loadGloveTable(path.join(home, 'models'));
}

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * (b[i] as number), 0);
const tableFile = async () => {
  const { size } = await stat(glovePackageFile());
  return path.join(home, 'models', `glove-100d-${GLOVE_VOCABULARY}-${size}.bin`);
};

describe('GloVe embedder', () => {
  it('keeps the 100,000 most frequent words as unit vectors, read back the same from its table', async () => {
    assert.equal(table.rank.size, GLOVE_VOCABULARY);
    assert.equal(table.vectors.length, GLOVE_VOCABULARY * GLOVE_DIMENSION);
    assert.equal(table.rank.get('the'), 0, 'most frequent first');
    for (const word of ['acquisition', 'sanitize', 'breach', 'password']) {
      const r = table.rank.get(word);
      assert.ok(r !== undefined, `${word} is in the vocabulary`);
      const v = table.vectors.subarray(r * GLOVE_DIMENSION, (r + 1) * GLOVE_DIMENSION);
      assert.ok(Math.abs(cosine(v, v) - 1) < 1e-5, `${word}: unit length`);
    }
    const again = await loadGloveTable(path.join(home, 'models'));
    assert.deepEqual(Buffer.from(again.vectors.buffer), Buffer.from(table.vectors.buffer));
  });

  it('puts paraphrases near the text they mean, where hashing words cannot', () => {
    const acquisition = 'Acquisition Process\nInclude security requirements in the acquisition contract for the system or service';
    const audit = 'Audit Record Generation\nProvide audit record generation capability for the event types';
    const q = 'buying software from a vendor';
    const g = (t: string) => embedGlove(table, t);
    assert.ok(cosine(g(q), g(acquisition)) > cosine(g(q), g(audit)) + 0.05, 'buying is nearer acquisition than audit');
    // The hashing embedder shares no word between them: exactly orthogonal but for collisions.
    assert.ok(Math.abs(cosine(embedLocal(q), embedLocal(acquisition))) < 0.1);
    // Not "wipe hard drives" near Media Sanitization any more: with the vocabulary's common
    // directions taken out (all-but-the-top) it is nearer the audit text (README, search quality).
  });

  it('embeds the same text to the same bytes; skips placeholders, function words and unknown words', () => {
    const text = 'Account Management\nDefine the types of accounts [organization-defined value] allowed';
    assert.deepEqual(Buffer.from(embedGlove(table, text).buffer), Buffer.from(embedGlove(table, text).buffer));
    assert.deepEqual(embedGlove(table, text), embedGlove(table, 'Account Management\nDefine the types of accounts allowed'));
    assert.deepEqual(embedGlove(table, 'the of and'), new Float32Array(GLOVE_DIMENSION), 'function words only: the zero vector');
    assert.deepEqual(embedGlove(table, 'qqzzxv'), new Float32Array(GLOVE_DIMENSION));
    assert.deepEqual(embedGlove(table, 'access qqzzxv'), embedGlove(table, 'access'));
  });

  it('takes the vocabulary\'s mean and top principal components out of every text\'s vector (all-but-the-top)', () => {
    const { mean, components } = table.common;
    const dot = (a: ArrayLike<number>, b: ArrayLike<number>, at = 0) => Array.from(a).reduce((s, v, i) => s + v * (b[at + i] as number), 0);
    const k = components.length / GLOVE_DIMENSION;
    assert.equal(k, 5);
    for (let i = 0; i < k; i++) {
      const c = components.subarray(i * GLOVE_DIMENSION, (i + 1) * GLOVE_DIMENSION);
      assert.ok(Math.abs(dot(c, c) - 1) < 1e-9, `component ${i}: unit length`);
      for (let j = 0; j < i; j++) assert.ok(Math.abs(dot(c, components, j * GLOVE_DIMENSION)) < 1e-9, `components ${j} and ${i}: orthogonal`);
    }
    assert.ok(dot(mean, mean) > 0.01, 'the word vectors share a mean direction');
    const v = embedGlove(table, 'Personnel Screening\nScreen individuals prior to authorizing access to the system');
    for (let i = 0; i < k; i++) assert.ok(Math.abs(dot(v, components, i * GLOVE_DIMENSION)) < 1e-6, `no part along component ${i}`);
    // Texts about different things are no longer all close: the shared directions made every cosine high.
    const fire = embedGlove(table, 'Fire Protection\nEmploy fire detection and suppression devices');
    const accounts = embedGlove(table, 'Account Management\nDefine and document the types of accounts allowed');
    assert.ok(cosine(fire, accounts) < 0.5, `unrelated controls: cosine ${cosine(fire, accounts)}`);
  });

  it('rebuilds a damaged table, and refuses a source that is not the table it expects, writing nothing', async () => {
    const file = await tableFile();
    const whole = await readFile(file);
    await writeFile(file, whole.subarray(0, 1000));
    const rebuilt = await loadGloveTable(path.join(home, 'models'));
    assert.deepEqual(Buffer.from(rebuilt.vectors.buffer), Buffer.from(table.vectors.buffer));
    assert.equal((await stat(file)).size, whole.length);

    const dir = cluster.tempDir('glove-bad');
    const wrong = path.join(dir, 'wrong.json');
    await writeFile(wrong, JSON.stringify({ dimensions: 50, wordIndex: 51, vectors: { a: [0.1, 0.2] } }));
    await assert.rejects(loadGloveTable(path.join(dir, 'cache'), wrong), (err: NfrError) => err.code === 'CONFIG' && /wrong\.json.*50 dimensions, not 100/.test(err.message));
    const short = path.join(dir, 'short.json');
    const values = (rank: number) => [...Array.from({ length: 100 }, (_, d) => (d === rank % 100 ? 1 : 0)), 1, rank];
    await writeFile(short, JSON.stringify({ dimensions: 100, wordIndex: 101, vectors: { alpha: values(0), beta: values(1) } }));
    await assert.rejects(loadGloveTable(path.join(dir, 'cache'), short), /short\.json.*2 of the 100000 most frequent words have vectors/);
    assert.deepEqual(await readdir(path.join(dir, 'cache')).catch(() => []), [], 'no table, and no temporary file, written');
  });

  it('builds from a source of the same form, keeps working where the table cannot be written, and stops on garbage in bounded memory', async () => {
    const dir = cluster.tempDir('glove-synthetic');
    // The package's form: a word list first (skipped), then word → [100 values, norm, rank].
    const source = path.join(dir, 'synthetic.json');
    const out = createWriteStream(source);
    out.write('{"precision":8,"l2NormIndex":100,"wordIndex":101,"size":100001,"dimensions":100,"words":["w0"],"vectors":{');
    for (let rank = 0; rank <= GLOVE_VOCABULARY; rank++) {
      const values = Array.from({ length: 100 }, (_, d) => (d === rank % 100 ? 3 : d === (rank + 1) % 100 ? 4 : 0));
      out.write(`${rank ? ',' : ''}"w${rank}":[${values.join(',')},5,${rank}]`);
    }
    await new Promise<void>((resolve) => out.end('},"unkVector":[0]}', () => resolve()));
    // A build killed while writing left its temporary table; the next build removes it.
    const cache = path.join(dir, 'cache-abandoned');
    await mkdir(cache);
    const abandoned = path.join(cache, `.glove-100d-${GLOVE_VOCABULARY}-1234.bin.999999999.1700000000000.tmp`);
    const ours = path.join(cache, `.glove-100d-${GLOVE_VOCABULARY}-1234.bin.${process.pid}.1700000000000.tmp`);
    await writeFile(abandoned, 'partial');
    await writeFile(ours, 'partial');
    await loadGloveTable(cache, source);
    const left = await readdir(cache);
    assert.ok(!left.includes(path.basename(abandoned)), 'the dead process’s temporary table is removed');
    assert.ok(left.includes(path.basename(ours)), 'a live process’s is kept');
    assert.equal(left.filter((n) => n.endsWith('.bin')).length, 1);
    const notADir = path.join(dir, 'a-file');
    await writeFile(notADir, 'x');
    const said: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => said.push(String(chunk)) > 0) as typeof process.stderr.write;
    const t = await loadGloveTable(path.join(notADir, 'models'), source).finally(() => (process.stderr.write = write));
    assert.match(said.join(''), /cannot keep the GloVe word table at .*a-file\/models\/glove-100d-100000-\d+\.bin \(ENOTDIR/);
    assert.equal(t.rank.size, GLOVE_VOCABULARY, 'the word past the vocabulary is left out');
    assert.equal(t.rank.get(`w${GLOVE_VOCABULARY}`), undefined);
    const r = t.rank.get('w7') as number;
    assert.deepEqual(Array.from(t.vectors.subarray(r * 100 + 6, r * 100 + 10)), [0, Math.fround(0.6), Math.fround(0.8), 0], 'normalised');

    const garbage = path.join(dir, 'garbage.json');
    const g = createWriteStream(garbage);
    g.write(`{"dimensions":100,"wordIndex":101,"vectors":{"a":[${[1, ...Array(99).fill(0), 1, 0].join(',')}],`);
    for (let i = 0; i < 4096; i++) g.write('x'.repeat(1024));
    await new Promise<void>((resolve) => g.end('}}', () => resolve()));
    await assert.rejects(loadGloveTable(path.join(dir, 'cache'), garbage), /garbage\.json is not the GloVe table nfr expects: unreadable after 1 word: ",?xxx/);
  });

  it('refuses NFR_EMBEDDER values it does not know, and GloVe together with EMBEDDINGS_URL', async () => {
    const bad = await nfr(['search', 'access'], { ...env, NFR_EMBEDDER: 'bert' });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /NFR_EMBEDDER="bert": expected glove \(the default\) or hash/);
    const both = await nfr(['search', 'access'], { ...env, NFR_EMBEDDER: 'glove', EMBEDDINGS_URL: 'http://127.0.0.1:9/v1' });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /NFR_EMBEDDER="glove" and EMBEDDINGS_URL are both set/);
  });
});

describe('search with GloVe', () => {
  it('indexes the sample with the GloVe model and finds controls for words no control contains', async () => {
    const stored = await query(env.DATABASE_URL as string, 'select model_name, dimension, count(*)::int as n from ai_controls_embedding group by 1, 2');
    assert.deepEqual(stored, [{ model_name: GLOVE_MODEL, dimension: GLOVE_DIMENSION, n: 370 }]);
    // "wipe hard drives before throwing them away" found MP (Media Storage, fourth) until the
    // vocabulary's common directions were taken out; it no longer does (README, search quality).
    for (const [q, family] of [
      ['security requirements in contracts when buying software', 'SA'],
      ['practise responding to an attack with tabletop exercises', 'IR'],
    ] as const) {
      const r = await nfrJson(['search', q], env);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.body.mode, 'hybrid');
      assert.deepEqual(r.body.warnings, []);
      assert.equal(r.body.model.model, GLOVE_MODEL);
      assert.equal(r.body.model.dimension, GLOVE_DIMENSION);
      const top = r.body.results.slice(0, 5).map((h: { family_id: string }) => h.family_id);
      assert.ok(top.includes(family), `${q}: ${family} in the top 5, got ${top.join(', ')}`);
    }
  });

  it('answers the API with the same ranking as the CLI, and refuses an index of the other embedder', async () => {
    const q = 'wipe hard drives before throwing them away';
    const cli = await nfrJson(['search', q], env);
    const server = await serveNfr(env);
    try {
      const res = await fetch(`${server.base}/api/v2/controls/search?q=${encodeURIComponent(q)}`, { headers: { authorization: `Bearer ${READER}` } });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { results: { control_id: string; score: number }[] };
      assert.deepEqual(body.results.map((h) => [h.control_id, h.score]), cli.body.results.map((h: { control_id: string; score: number }) => [h.control_id, h.score]));
    } finally {
      await server.stop();
    }
    const hashed = await nfrJson(['search', q, '--mode', 'semantic'], { ...env, NFR_EMBEDDER: 'hash' });
    assert.equal(hashed.code, 5, hashed.stderr);
    assert.match(JSON.stringify(hashed.body), /nfr index --force/);
  });
});
