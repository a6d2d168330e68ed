/**
 * `nfr pipeline run --snapshots` with an offsite repository: each checkpoint is a snapshot like
 * any other, uploaded as it completes. When the bucket does not answer, the checkpoints stay
 * completed locally and each step says it is not offsite yet (as `nfr snapshot create` does)
 * instead of a plain "SNAP-… (N rows)" that looks like a success.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { nfrJson, testEnv } from './support/cli.js';
import { fileCluster } from './support/cluster.js';

const cluster = fileCluster();

/** A loopback port nothing listens on: the endpoint refuses at once. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}

describe('pipeline checkpoints and the offsite repository', () => {
  it('says of each checkpoint that it is not offsite yet when the bucket does not answer', async () => {
    const db = await cluster.createDatabase('pipeoff');
    const port = await closedPort();
    const env = testEnv({
      DATABASE_URL: db.url,
      POSTGRES_BACKUP_PATH: cluster.tempDir('pipeoff-backups'),
      NFR_HOME: cluster.tempDir('pipeoff-home'),
      NFR_S3_REPOSITORY: 's3://nfr-pipeline/checkpoints',
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
    });
    const run = await nfrJson(['pipeline', 'run', '--sample', '--snapshots'], env);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.body.ok, true);
    const checkpoints = run.body.steps.filter((s: { kind: string }) => s.kind === 'snapshot');
    assert.equal(checkpoints.length, 4);
    for (const step of checkpoints) {
      assert.equal(step.status, 'completed');
      assert.match(step.summary, new RegExp(`^${step.snapshot_id} \\(\\d+ rows\\); offsite repository s3://nfr-pipeline/checkpoints at http://127\\.0\\.0\\.1:${port} does not answer`));
      assert.match(step.summary, new RegExp(`nfr snapshot push --id ${step.snapshot_id}`));
    }
    const list = await nfrJson(['snapshot', 'list'], env);
    assert.deepEqual(
      list.body.snapshots.map((s: { id: string; status: string; location: string }) => [s.id, s.status, s.location]),
      checkpoints.map((s: { snapshot_id: string }) => [s.snapshot_id, 'completed', 'local']),
    );
  });
});
