/**
 * The controls upload's options sent as multipart text fields (SPEC 4.2, 7: malformed bodies get a
 * 4xx with a reason). `-F skip_invalid=true` was skipped without a word and the upload ran with the
 * default policy, rejecting the batch the user asked to load in part. A text field is now refused
 * by name (400, nothing stored), pointing at the query parameter that sets the option.
 */
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { API_TOKENS, OPERATOR, pollJob, serve, type Server } from './support/api.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';
import type { Env } from './support/cli.js';

let env: Env;
let server: Server;

const cluster = fileCluster(async () => {
  env = (await freshDatabase(cluster, 'acceptance_upload', { ingested: true, env: { API_TOKENS } })).env;
  server = await serve(env);
  return () => server.stop();
});

const CSV = 'control_id,title\nUP-1,Good row\nUP-2,\n';

function upload(fields: Record<string, string>, query = ''): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([CSV], { type: 'text/csv' }), 'controls.csv');
  return fetch(`${server.url}/api/v2/pipelines/controls/ingest${query}`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}` }, body: form });
}

describe('acceptance: controls upload fields', () => {
  it('refuses an option sent as a text field, naming the query parameter, and stores nothing', async () => {
    const stored = path.join(env.DATA_INGESTED_PATH!, 'controls');
    const before = await readdir(stored).catch(() => []);
    for (const [name, hint] of [
      ['skip_invalid', /"skip_invalid" is not read: pass skip_invalid as a query parameter/],
      ['note', /"note" is not read; send only the CSV/],
    ] as const) {
      const r = await upload({ [name]: 'true' });
      const body = (await r.json()) as any;
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.equal(body.error.code, 'INVALID_INPUT');
      assert.match(body.error.message, hint);
    }
    assert.deepEqual(await readdir(stored).catch(() => []), before, 'nothing was stored');

    // The query parameter is the way: the valid row loads, the empty title is reported.
    const ok = await upload({}, '?skip_invalid=true');
    assert.equal(ok.status, 202, await ok.clone().text());
    const job = await pollJob(server, ((await ok.json()) as any).job_id);
    assert.equal(job.status, 'completed', JSON.stringify(job.error));
    assert.equal(job.counts.rows_valid, 1);
    assert.equal(job.counts.rows_rejected, 1);
  });
});
