/**
 * The `snapshot_not_offsite` alert (issue 22 item 2, with the object-storage issue): a completed
 * snapshot not in the offsite repository (a real Swift, test/support/swift.ts) for longer than
 * NFR_OFFSITE_MAX_DELAY fires once, from two servers, to a webhook receiver on loopback; pushing
 * it resolves the alert, once. The snapshot is made while the repository is not configured, so
 * it exists only locally.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { nfrJson } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { API_TOKENS, serve, type Server } from './support/api.js';
import { seededDatabase } from './support/setup.js';
import { TestSwift } from './support/swift.js';
import { waitFor } from './support/wait.js';
import { receiver } from './support/webhook.js';

const cluster = fileCluster();
let swift: TestSwift;

// The object store starts beside the cluster: a file's top-level before() hooks start together.
before(async () => {
  swift = await TestSwift.start();
});

after(async () => {
  await swift?.stop();
});

describe('the snapshot_not_offsite alert', () => {
  it('fires once when a completed snapshot is not offsite past NFR_OFFSITE_MAX_DELAY, and resolves once when pushed', async () => {
    const hook = await receiver();
    const bucket = `nfr-alerts-${process.pid}`;
    await swift.createBucket(bucket);
    const { env } = await seededDatabase(cluster, 'alerts-offsite', {
      controls: 50,
      env: { API_TOKENS, NFR_HEARTBEAT_SECONDS: '1', ...swift.env(`s3://${bucket}`), NFR_OFFSITE_MAX_DELAY: '1s', NFR_ALERT_WEBHOOK_URL: hook.url, NFR_ALERT_CHECK_SECONDS: '1' },
    });
    const created = await nfrJson(['snapshot', 'create', '--name', 'local only', '--json'], { ...env, NFR_S3_REPOSITORY: undefined });
    assert.equal(created.code, 0, created.stderr);
    const id = created.body.id as string;
    const got = (status: string) => hook.received.filter((r) => r.body.event === 'snapshot_not_offsite' && r.body.status === status);
    const servers: Server[] = [];
    try {
      servers.push(await serve(env), await serve(env));
      const firing = await waitFor(() => got('firing')[0], { what: 'the snapshot_not_offsite alert' });
      assert.equal(firing.body.severity, 'warning');
      assert.deepEqual(firing.body.details.overdue, [id]);
      assert.match(firing.body.summary, new RegExp(`not offsite for longer than 1 s \\(NFR_OFFSITE_MAX_DELAY\\): ${id}; push with nfr snapshot push --id ${id}`));
      const pushed = await nfrJson(['snapshot', 'push', '--id', id, '--json'], env);
      assert.equal(pushed.code, 0, pushed.stderr);
      const resolved = await waitFor(() => got('resolved')[0], { what: 'the alert resolved' });
      assert.match(resolved.body.summary, /every snapshot is in/);
      // Both servers checked every second all along: one of each.
      assert.equal(got('firing').length, 1, JSON.stringify(got('firing').map((r) => r.body)));
      assert.equal(got('resolved').length, 1);
    } finally {
      for (const s of servers) await s.stop();
      await hook.close();
    }
  });
});
