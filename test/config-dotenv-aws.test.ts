/**
 * `.env` is honoured for the offsite repository's AWS settings too: the SDK reads its credentials
 * from the process environment only, so a `.env` holding NFR_S3_REPOSITORY and the AWS_* lines
 * (as the README's configuration table lists them) used to reach the endpoint and then fail with
 * "refused the credentials (CredentialsProviderError)".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { loadConfig } from '../src/config.js';

const NAMES = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_REGION', 'AWS_ENDPOINT_URL_S3', 'AWS_PROFILE', 'NFR_S3_REPOSITORY'] as const;

describe('.env and the AWS SDK', () => {
  let dir: string;
  const saved = new Map<string, string | undefined>();

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'nfr-dotenv-aws-'));
    for (const name of NAMES) {
      saved.set(name, process.env[name]);
      delete process.env[name];
    }
  });

  after(() => {
    for (const [name, value] of saved) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it("gives the SDK the credentials written in .env, and the environment's own values win", async () => {
    writeFileSync(
      path.join(dir, '.env'),
      [
        'NFR_S3_REPOSITORY=s3://bucket-from-dotenv/nfr',
        'AWS_ENDPOINT_URL_S3=http://127.0.0.1:9',
        'AWS_ACCESS_KEY_ID=key-from-dotenv',
        'AWS_SECRET_ACCESS_KEY=secret-from-dotenv',
        'AWS_SESSION_TOKEN=token-from-dotenv',
        'AWS_REGION=eu-west-3',
        '',
      ].join('\n'),
    );
    process.env.AWS_SECRET_ACCESS_KEY = 'secret-from-environment';

    const config = loadConfig({}, process.env, dir);
    assert.equal(config.offsite?.bucket, 'bucket-from-dotenv');
    assert.equal(config.offsite?.endpoint, 'http://127.0.0.1:9');

    const client = new S3Client({ region: 'us-east-1' });
    try {
      const credentials = await client.config.credentials();
      assert.equal(credentials.accessKeyId, 'key-from-dotenv');
      assert.equal(credentials.secretAccessKey, 'secret-from-environment');
      assert.equal(credentials.sessionToken, 'token-from-dotenv');
    } finally {
      client.destroy();
    }
    assert.equal(process.env.AWS_REGION, 'eu-west-3');
    // Only AWS_* names are exported: nfr's own settings stay in its configuration.
    assert.equal(process.env.NFR_S3_REPOSITORY, undefined);
  });

  it('leaves the environment alone when the configuration is refused', () => {
    for (const name of NAMES) delete process.env[name];
    writeFileSync(path.join(dir, '.env'), 'NFR_LOCAL_KEEP=none\nAWS_ACCESS_KEY_ID=key-from-dotenv\n');
    assert.throws(() => loadConfig({}, process.env, dir), /NFR_LOCAL_KEEP/);
    assert.equal(process.env.AWS_ACCESS_KEY_ID, undefined);
  });
});
