/**
 * Search's answers to input it cannot search for, and to an index that is behind the database
 * (issue 19, items 7, 8 and 9), on the NIST sample in a real cluster, through the CLI and a
 * running server alike:
 *
 *   - a NUL character in the query or a filter is 400 INVALID_INPUT (never a 500), in every mode,
 *     GET and POST;
 *   - a query of stop words only is 400 / exit 12 INVALID_INPUT saying there is nothing to search
 *     for, never a page of score-0 controls;
 *   - after restoring an empty snapshot without --resync, the index still holds every control,
 *     but search returns none of them: stale hits are dropped and counted in a warning.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { API_TOKENS, READER, api, serve, type Server } from './support/api.js';
import { nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';
import { compoundCandidates, joinKnownCompounds } from '../src/search/compounds.js';
import { joinedPairs, queryLexemes } from '../src/search/keyword-resident.js';
import { withUrl } from './support/data.js';

let env: Env;
let server: Server;
let emptySnapshot: string;

const cluster = fileCluster(async () => {
  env = (await freshDatabase(cluster, 'search_input', { env: { API_TOKENS } })).env;
  const migrated = await nfrJson(['db', 'migrate'], env);
  assert.equal(migrated.code, 0, migrated.stderr);
  const empty = await nfrJson(['snapshot', 'create', '--name', 'empty catalogue', '--json'], env);
  assert.equal(empty.code, 0, empty.stderr);
  emptySnapshot = empty.body.id;
  const run = await nfrJson(['pipeline', 'run', '--sample'], env);
  assert.equal(run.code, 0, run.stderr);
  server = await serve(env);
  return () => server.stop();
});

const get = (q: string, extra = '') => api(server, 'GET', `/api/v2/controls/search?q=${q}${extra}`, { token: READER });
const post = (body: unknown) => api(server, 'POST', '/api/v2/controls/search', { token: READER, body });

describe('search input', () => {
  it('answers a NUL in the query or a filter with 400 INVALID_INPUT in every mode, GET and POST', async () => {
    for (const mode of ['hybrid', 'keyword', 'semantic', 'id']) {
      const g = await get('a%00b', `&mode=${mode}`);
      assert.equal(g.status, 400, `GET ${mode}: ${g.text}`);
      assert.equal(g.json.error.code, 'INVALID_INPUT');
      assert.match(g.json.error.message, /NUL/);
      const p = await post({ q: 'a\u0000b', mode });
      assert.equal(p.status, 400, `POST ${mode}: ${p.text}`);
      assert.equal(p.json.error.code, 'INVALID_INPUT');
      const f = await post({ q: 'access', mode, filters: { family_id: ['A\u0000C'] } });
      assert.equal(f.status, 400, `POST ${mode} filter: ${f.text}`);
      assert.match(f.json.error.message, /family_id/);
    }
    const filtered = await get('access', '&status=a%00b');
    assert.equal(filtered.status, 400, filtered.text);
    // The server is still well.
    const fine = await get('access%20control');
    assert.equal(fine.status, 200, fine.text);
    assert.ok(fine.json.results.length > 0);
  });

  it('says there is nothing to search for when every word is a stop word, CLI and API alike', async () => {
    for (const mode of ['hybrid', 'keyword', 'semantic']) {
      const cli = await nfrJson(['search', 'the of and', '--mode', mode, '--json'], env);
      assert.equal(cli.code, 12, `${mode}: ${cli.stderr}`);
      assert.match(cli.stderr, /nothing to search for/);
      const g = await get('the%20of%20and', `&mode=${mode}`);
      assert.equal(g.status, 400, g.text);
      assert.equal(g.json.error.code, 'INVALID_INPUT');
      assert.match(g.json.error.message, /nothing to search for/);
    }
    const punctuation = await post({ q: '?! ...' });
    assert.equal(punctuation.status, 400, punctuation.text);
    assert.match(punctuation.json.error.message, /nothing to search for/);
    // A stop word beside a real one still searches; id mode looks at ids, not words.
    const real = await nfrJson(['search', 'the audit', '--json'], env);
    assert.equal(real.code, 0, real.stderr);
    assert.ok(real.body.results.length > 0);
    assert.ok(real.body.results.every((h: { score: number }) => h.score > 0));
    const id = await nfrJson(['search', 'the', '--mode', 'id', '--json'], env);
    assert.equal(id.code, 0, id.stderr);
    assert.deepEqual(id.body.results, []);
  });
});

describe('compounds written apart', () => {
  it('joins adjacent words where one is short: back up, log in, set up, e mail', () => {
    assert.deepEqual(joinedPairs('How do we back up data?'), ['howdo', 'dowe', 'weback', 'backup', 'updata']);
    assert.deepEqual(joinedPairs('log in; set-up; E-mail'), ['login', 'inset', 'setup', 'upe', 'email']);
    assert.deepEqual(joinedPairs('access review AC-2 of 3 accounts'), ['reviewac'], 'no ids or numbers');
    assert.deepEqual(joinedPairs('backup'), []);
  });

  it('finds the backup controls for "back up", the same through the CLI and the server', async () => {
    const q = 'how often do we back up the data';
    const cli = await nfrJson(['search', q, '--mode', 'keyword', '--limit', '5', '--json'], env);
    assert.equal(cli.code, 0, cli.stderr);
    const ids = cli.body.results.map((h: { control_id: string }) => h.control_id);
    assert.equal(ids[0], 'CP-9', `"${q}" → ${ids.join(', ')}`);
    for (const mode of ['keyword', 'hybrid']) {
      const fromCli = await nfrJson(['search', q, '--mode', mode, '--limit', '10', '--json'], env);
      const served = await get(encodeURIComponent(q), `&mode=${mode}&limit=10`);
      assert.equal(served.status, 200, served.text);
      assert.deepEqual(served.json.results, fromCli.body.results, `${mode}: the server's postings and the CLI's SQL agree`);
    }
    // The stop-word check looks at the words themselves, not their joined pairs.
    const onlyStop = await nfrJson(['search', 'in on at', '--json'], env);
    assert.equal(onlyStop.code, 12, onlyStop.stderr);
  });
});

/** The ids of a search through the CLI, after checking the server answers the same results. */
async function sameThroughBoth(q: string, mode: string, limit = 10): Promise<string[]> {
  const cli = await nfrJson(['search', q, '--mode', mode, '--limit', String(limit), '--json'], env);
  assert.equal(cli.code, 0, cli.stderr);
  const served = await get(encodeURIComponent(q), `&mode=${mode}&limit=${limit}`);
  assert.equal(served.status, 200, served.text);
  assert.deepEqual(served.json.results, cli.body.results, `"${q}" ${mode}: the server's postings and the CLI's SQL agree`);
  return cli.body.results.map((h: { control_id: string }) => h.control_id);
}

describe('compounds against the controls\' vocabulary', () => {
  it('looks at lexemes of letters that end in a particle, with a head of two letters or more', () => {
    assert.deepEqual(compoundCandidates(['logon', 'backup', 'login', 'account', 'up', 'on', 'sign-on', 'x1up', 'shutdown']), [
      { compound: 'logon', particle: 'on', head: 'log' },
      { compound: 'backup', particle: 'up', head: 'back' },
      { compound: 'login', particle: 'in', head: 'log' },
      { compound: 'shutdown', particle: 'down', head: 'shut' },
    ]);
    assert.equal(joinKnownCompounds('Users log on, then Log-on again; a log only', [{ compound: 'logon', head: 'log', particle: 'on' }]), 'Users logon, then Logon again; a log only');
  });

  it('stems the heads of every compound candidate with the query, so settling compounds needs no second statement', async () => {
    const words = await withUrl(env.DATABASE_URL as string, (c) => queryLexemes(c, 'Who may log in, and how often do we back-up the shutdown logs? Checkin'));
    const candidates = compoundCandidates([...words.lexemes, ...words.joined]);
    const heads = candidates.map((c) => c.head);
    for (const h of ['back', 'check', 'log', 'shut']) assert.ok(heads.includes(h), `${h} among ${heads.join(', ')}`);
    for (const { head } of candidates) {
      const alone = await withUrl(env.DATABASE_URL as string, (c) => c.query<{ l: string[] | null }>(`select (select array_agg(x) from unnest(tsvector_to_array(to_tsvector('english', $1))) x) as l`, [head]));
      assert.deepEqual(words.headStems.get(head), alone.rows[0]?.l, head);
    }
  });

  it('a control that writes a compound split holds the word: "logon" finds AC-8 ("before users log on") after AC-7 ("Unsuccessful Logon Attempts")', async () => {
    // AC-7 writes logon, AC-8 "log on": the one word finds both, and so does the pair.
    assert.deepEqual(await sameThroughBoth('logon', 'keyword'), ['AC-7', 'AC-8']);
    assert.deepEqual((await sameThroughBoth('log on', 'keyword')).slice(0, 2), ['AC-7', 'AC-8']);
    // AC-2.5 writes both "logout" and "log out": once, not twice, for each.
    assert.deepEqual((await sameThroughBoth('log out', 'keyword')).slice(0, 1), ['AC-2.5']);
    // With a filter, the split form counts only where the filter admits the control.
    const filtered = await nfrJson(['search', 'logon', '--mode', 'keyword', '--family', 'AU', '--json'], env);
    assert.equal(filtered.code, 0, filtered.stderr);
    assert.deepEqual(filtered.body.results, []);
  });

  it('a pair the controls write as one word means that word alone: "log on" asks for logon, not for audit logs', async () => {
    const ids = await sameThroughBoth('a warning banner shown before users log on', 'keyword');
    assert.deepEqual(ids.slice(0, 3), ['AC-7', 'AU-5.1', 'AC-8'], ids.join(', '));
    assert.ok(!ids.includes('AU-2'), `AU-2 (event logging) is no answer: ${ids.join(', ')}`);
    const hybrid = await sameThroughBoth('a warning banner shown before users log on', 'hybrid');
    assert.ok(hybrid.slice(0, 5).includes('AC-8'), hybrid.join(', '));
  });

  it('a query word no control uses that is a word of theirs and a particle asks for that word: "logins" as "log"', async () => {
    const log = await sameThroughBoth('log', 'keyword');
    assert.ok(log.length >= 5, log.join(', '));
    assert.deepEqual(await sameThroughBoth('logins', 'keyword'), log);
    // A compound the controls use is kept whole: "backups" is not "back".
    assert.deepEqual((await sameThroughBoth('backups', 'keyword')).slice(0, 1), ['CP-9']);
  });
});

describe('resident memory budget', () => {
  it('searches from PostgreSQL and disk when nothing fits NFR_INDEX_MEMORY_MB, says so, and answers as the CLI does', async () => {
    const small = await serve({ ...env, NFR_INDEX_MEMORY_MB: '0' });
    try {
      const q = 'review privileged accounts';
      for (const mode of ['hybrid', 'keyword', 'semantic']) {
        const served = await api(small, 'GET', `/api/v2/controls/search?q=${encodeURIComponent(q)}&mode=${mode}&limit=15`, { token: READER });
        assert.equal(served.status, 200, served.text);
        const cli = await nfrJson(['search', q, '--mode', mode, '--limit', '15', '--json'], env);
        assert.equal(cli.code, 0, cli.stderr);
        assert.ok(cli.body.results.length > 0);
        assert.deepEqual(served.json.results, cli.body.results, mode);
        const expected = [...(mode === 'semantic' ? [] : [/^the keyword rankings need about \d+ MiB of memory, more than NFR_INDEX_MEMORY_MB=0 allows; keyword ranking runs in PostgreSQL/]), ...(mode === 'keyword' ? [] : [/the vector index need about \d+ MiB .*NFR_INDEX_MEMORY_MB=0 allows; searches read it from disk/])];
        for (const e of expected) assert.ok(served.json.warnings.some((w: string) => e.test(w)), `${mode}: ${e} in ${served.json.warnings.join(' | ')}`);
        assert.equal(served.json.warnings.length, expected.length, served.json.warnings.join(' | '));
      }
      await small.waitForStderr(/NFR_INDEX_MEMORY_MB/);
    } finally {
      await small.stop();
    }
    // The default budget holds the sample: no such warning.
    const roomy = await get('review%20privileged%20accounts');
    assert.deepEqual(roomy.json.warnings, []);
  });
});

describe('stale index hits', () => {
  it('returns only controls of the live database after an empty snapshot is restored without --resync', async () => {
    const before = await nfrJson(['search', 'identification and authentication of organizational users', '--json'], env);
    assert.equal(before.code, 0, before.stderr);
    assert.ok(before.body.results.some((h: { control_id: string }) => h.control_id.startsWith('IA-2')), JSON.stringify(before.body.results.map((h: { control_id: string }) => h.control_id)));

    const restored = await nfrJson(['snapshot', 'restore', '--id', emptySnapshot, '--skip-backup', '--yes', '--json'], env);
    assert.equal(restored.code, 0, restored.stderr);

    for (const mode of ['hybrid', 'semantic']) {
      const cli = await nfrJson(['search', 'identification and authentication of organizational users', '--mode', mode, '--json'], env);
      assert.equal(cli.code, 0, cli.stderr);
      assert.equal(cli.body.index_points, 370, 'the index still holds the sample');
      assert.deepEqual(cli.body.results, [], `${mode}: no control of the empty database`);
      assert.ok(cli.body.warnings.some((w: string) => /^\d+ index hit\(s\) dropped/.test(w)), cli.body.warnings.join('; '));
      const g = await get('identification%20and%20authentication%20of%20organizational%20users', `&mode=${mode}`);
      assert.equal(g.status, 200, g.text);
      assert.deepEqual(g.json.results, [], `${mode} through the server`);
      assert.deepEqual(g.json.warnings, cli.body.warnings, 'the same warnings through the CLI and the server');
    }
    const detail = await api(server, 'GET', '/api/v2/controls/IA-2.1', { token: READER });
    assert.equal(detail.status, 404, 'the control a stale hit would have linked to is gone');
  });
});
