/** Configuration: flags > environment > `.env` > defaults, validated with a message per bad value. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDotenv, resolveConfig } from '../src/config.js';
import { NfrError } from '../src/errors.js';

describe('config', () => {
  it('takes flags over environment over .env over defaults', () => {
    const c = resolveConfig({ env: { POSTGRES_BACKUP_PARALLEL_JOBS: '3' }, cwd: '/srv', dotenv: 'POSTGRES_BACKUP_PARALLEL_JOBS=5\nPOSTGRES_BACKUP_PATH="/backups" # comment\n' });
    assert.equal(c.parallelJobs, 3);
    assert.equal(c.backupPath, '/backups');
    assert.equal(c.home, '/srv/.nfr');
    assert.equal(c.compression, 0);
    assert.equal(resolveConfig({ env: { POSTGRES_BACKUP_PARALLEL_JOBS: '3' }, cwd: '/srv', flags: { jobs: 7 } }).parallelJobs, 7);
    assert.ok(Object.isFrozen(c));
  });

  it('weighs the keyword ranking 0.4 with the GloVe embedder, 0.7 with the others, unless NFR_SEARCH_KEYWORD_WEIGHT says', () => {
    assert.equal(resolveConfig({ env: {}, cwd: '/' }).searchKeywordWeight, 0.4);
    assert.equal(resolveConfig({ env: { NFR_EMBEDDER: 'glove' }, cwd: '/' }).searchKeywordWeight, 0.4);
    assert.equal(resolveConfig({ env: { NFR_EMBEDDER: 'hash' }, cwd: '/' }).searchKeywordWeight, 0.7);
    assert.equal(resolveConfig({ env: { EMBEDDINGS_URL: 'http://127.0.0.1:9/v1' }, cwd: '/' }).searchKeywordWeight, 0.7);
    assert.equal(resolveConfig({ env: { NFR_SEARCH_KEYWORD_WEIGHT: '0.6' }, cwd: '/' }).searchKeywordWeight, 0.6);
    assert.equal(resolveConfig({ env: { NFR_EMBEDDER: 'hash', NFR_SEARCH_KEYWORD_WEIGHT: '0.2' }, cwd: '/' }).searchKeywordWeight, 0.2);
  });

  it('names every bad variable and hides passwords', () => {
    assert.throws(
      () => resolveConfig({ env: { DATABASE_URL: 'mysql://u:secret@h/db', POSTGRES_BACKUP_COMPRESSION: '12', PG_BIN_DIR: '/nonexistent/bin' }, cwd: '/' }),
      (err: unknown) => {
        assert.ok(err instanceof NfrError && err.code === 'CONFIG');
        assert.match(err.message, /DATABASE_URL=.*expected a URL of the form postgresql:/);
        assert.match(err.message, /POSTGRES_BACKUP_COMPRESSION="12": expected an integer from 0 to 9/);
        assert.match(err.message, /PG_BIN_DIR="\/nonexistent\/bin": expected an existing directory/);
        assert.doesNotMatch(err.message, /secret/);
        return true;
      },
    );
  });

  it('never prints a password or token, whatever shape the setting has', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ DATABASE_URL: 'postgres//user:Pw-secret@host:5432/db' }, /DATABASE_URL="postgres\/\/user:\*\*\*@host:5432\/db": expected a URL/],
      [{ DATABASE_URL: 'postgresql:/user:Pw-secret@host/db' }, /DATABASE_URL="postgresql:\/user:\*\*\*@host\/db": expected .*no host found/],
      [{ DATABASE_URL: 'postgresql://user:Pw-secret%zz@host/db' }, /DATABASE_URL="postgresql:\/\/user:\*\*\*@host\/db": expected .*percent-escapes/],
      [{ API_TOKENS: 'justtoken-secret' }, /API_TOKENS="\*\*\*": expected comma-separated role:token pairs/],
      [{ API_TOKENS: 'admin:Pw-secret,root:Pw-secret2' }, /API_TOKENS="admin:\*\*\*,root:\*\*\*"/],
      [{ API_TOKENS: 'admin:Pw-secret-0123456789,reader:Pw-secret-0123456789' }, /API_TOKENS="admin:\*\*\*,reader:\*\*\*": expected each token given once/],
    ];
    for (const [env, expected] of cases) {
      assert.throws(
        () => resolveConfig({ env, cwd: '/' }),
        (err: unknown) => {
          assert.ok(err instanceof NfrError && err.code === 'CONFIG', String(err));
          assert.match(err.message, expected);
          assert.doesNotMatch(err.message, /Pw|secret/, `${JSON.stringify(env)} printed a secret: ${err.message}`);
          return true;
        },
      );
    }
    // Well-formed values pass, including a socket directory instead of a host.
    assert.equal(resolveConfig({ env: { DATABASE_URL: 'postgresql://u:p%40ss@db.internal:5433/nfr' }, cwd: '/' }).databaseUrl, 'postgresql://u:p%40ss@db.internal:5433/nfr');
    assert.ok(resolveConfig({ env: { DATABASE_URL: 'postgresql:///nfr?host=/var/run/postgresql' }, cwd: '/' }).databaseUrl);
  });

  it('reads .env lines with quotes, export and comments', () => {
    assert.deepEqual(parseDotenv('export A=1\n# c\nB = "two words"\nC=x # trailing\nD=\'q\'\n'), { A: '1', B: 'two words', C: 'x', D: 'q' });
  });
});
