/**
 * The console's Schedules section and the Cancel button of a running job (issue 22 items 1 and
 * 3), in a real browser against a real `nfr serve`, found by role and accessible name. The
 * server pauses every create after its dump (NFR_FAULT_POINT=dumped:pause), so the job stays
 * running until the Cancel button stops it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { serveNfr, testEnv, type Env } from '../../test/support/cli.js';
import { TestCluster } from '../../test/support/cluster.js';
import { launchBrowser, missingBrowser } from './support/browser.js';
import { query, seed } from '../../test/support/data.js';

const ADMIN = 'admin-token-schedules-0123456789';

let cluster: TestCluster;
let env: Env;
let server: Awaited<ReturnType<typeof serveNfr>> | undefined;
let browser: Browser;
const scriptErrors: string[] = [];

async function signedIn(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on('pageerror', (err) => scriptErrors.push(`pageerror: ${err.message}`));
  await page.goto(`${server!.base}/`);
  await page.getByLabel('API token').fill(ADMIN);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
  return page;
}

describe('console: schedules and cancel', { skip: missingBrowser, timeout: 180_000 }, () => {
  before(async () => {
    cluster = await TestCluster.start();
    const db = await cluster.createDatabase('console-schedules');
    await seed(db.url, { controls: 50 });
    env = testEnv({
      DATABASE_URL: db.url,
      POSTGRES_BACKUP_PATH: cluster.tempDir('console-schedules-backups'),
      NFR_HOME: cluster.tempDir('console-schedules-home'),
      API_TOKENS: `admin:${ADMIN}`,
      NFR_FAULT_POINT: 'dumped:pause',
    });
    server = await serveNfr(env);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await cluster?.stop();
    assert.deepEqual(scriptErrors, []);
  });

  it('adds, pauses, resumes and removes a schedule; a bad cron expression shows what was wrong', async () => {
    const page = await signedIn();
    await page.getByRole('link', { name: 'Snapshots' }).click();
    const section = page.getByRole('region', { name: 'Schedules' });
    await section.getByText('No schedules').waitFor();
    const form = section.getByRole('form', { name: 'Add schedule' });
    await form.getByLabel('Name').fill('nightly');
    await form.getByLabel('Cron').fill('0 25 * * *');
    await form.getByLabel('Time zone').fill('Europe/London');
    await form.getByRole('button', { name: 'Add schedule' }).click();
    await form.getByRole('alert').filter({ hasText: 'INVALID_INPUT' }).waitFor();
    await form.getByText(/is not a valid cron expression/).waitFor();
    await form.getByLabel('Cron').fill('0 2 * * *');
    await form.getByLabel('Prune').check();
    await form.getByRole('button', { name: 'Add schedule' }).click();
    const table = section.getByRole('table', { name: 'Schedules' });
    const row = table.getByRole('row').filter({ hasText: 'nightly' });
    await row.waitFor();
    assert.match(await row.innerText(), /0 2 \* \* \*\s+Europe\/London\s+prune/);
    await row.getByRole('button', { name: 'Pause' }).click();
    await row.getByText('paused').waitFor();
    assert.deepEqual(await query(cluster.url(`${new URL(env.DATABASE_URL!).pathname.slice(1)}_nfr`), 'select name, paused from nfr_schedule'), [{ name: 'nightly', paused: true }]);
    await row.getByRole('button', { name: 'Resume' }).click();
    await row.getByRole('button', { name: 'Pause' }).waitFor();
    await row.getByRole('button', { name: 'Remove' }).click();
    await section.getByText('No schedules').waitFor();
    await page.context().close();
  });

  it('cancels a running job with its Cancel button', async () => {
    const page = await signedIn();
    const res = await fetch(`${server!.base}/api/v2/devdata/snapshots/create`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'to cancel' }) });
    const { job_id: jobId } = (await res.json()) as { job_id: string };
    const jobs = page.getByRole('region', { name: 'Running jobs' });
    await jobs.getByText('running', { exact: true }).waitFor();
    await jobs.getByRole('button', { name: 'Cancel' }).click();
    for (;;) {
      const job = (await (await fetch(`${server!.base}/api/v2/jobs/${jobId}`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as { status: string; cancelled_by: string };
      if (job.status === 'cancelled') {
        assert.equal(job.cancelled_by, 'admin token (API)');
        break;
      }
      await page.waitForTimeout(100);
    }
    await jobs.waitFor({ state: 'detached' });
    await page.context().close();
  });
});
