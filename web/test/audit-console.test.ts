/**
 * The console's Audit view (issue 19 item 10) in a real browser against a real `nfr serve`:
 * admins see the trail as a table, found by role and name; other roles get no link and a reason.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { serveNfr, testEnv } from '../../test/support/cli.js';
import { TestCluster } from '../../test/support/cluster.js';
import { launchBrowser, missingBrowser } from './support/browser.js';

const ADMIN = 'admin-token-audit-console-0123456789';
const READER = 'reader-token-audit-console-0123456789';

let cluster: TestCluster;
let server: Awaited<ReturnType<typeof serveNfr>> | undefined;
let browser: Browser;
const scriptErrors: string[] = [];

async function signedIn(token: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  page.on('pageerror', (err) => scriptErrors.push(err.message));
  await page.goto(`${server!.base}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  return page;
}

describe('console audit view', { skip: missingBrowser, timeout: 180_000 }, () => {
  before(async () => {
    cluster = await TestCluster.start();
    const db = await cluster.createDatabase('auditconsole');
    server = await serveNfr(
      testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('auditconsole-backups'), NFR_HOME: cluster.tempDir('auditconsole-home'), API_TOKENS: `ops-lead:admin:${ADMIN},reader:${READER}` }),
    );
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await cluster?.stop();
    assert.deepEqual(scriptErrors, []);
  });

  it('shows admins who did what, with the outcome', async () => {
    const res = await fetch(`${server!.base}/api/v2/devdata/snapshots/SNAP-2026-0077`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(res.status, 404);
    const page = await signedIn(ADMIN);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).click();
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
    const table = page.getByRole('table', { name: 'Audit trail' });
    const row = table.getByRole('row').filter({ hasText: 'snapshot.delete' });
    await row.waitFor();
    const cells = await row.getByRole('cell').allInnerTexts();
    assert.equal(cells[1], 'ops-lead (admin)');
    assert.equal(cells[3], 'SNAP-2026-0077');
    assert.equal(cells[4], '127.0.0.1');
    assert.match(cells[5] ?? '', /failed\s+NOT_FOUND/);
    assert.deepEqual(await table.getByRole('columnheader').allInnerTexts(), ['When', 'Who', 'Action', 'Target', 'From', 'Outcome', 'Job']);
    assert.ok(!(await page.content()).includes(ADMIN), 'the token is not on the page');
  });

  it('gives readers no Audit link, and says why at its address', async () => {
    const page = await signedIn(READER);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit' }).count(), 0);
    await page.goto(`${server!.base}/audit`);
    await page.getByRole('heading', { name: 'Audit', level: 1 }).waitFor();
    await page.getByRole('status').filter({ hasText: 'Needs the admin role; your token has reader.' }).waitFor();
    assert.equal(await page.getByRole('table', { name: 'Audit trail' }).count(), 0);
  });
});
