/**
 * The web console in a real browser (Debian's chromium driven by playwright-core) against a real
 * `nfr serve` on a throwaway cluster loaded with the NIST sample. Elements are found by role and
 * accessible name, as users and their tools find them. Every request the page makes is checked
 * to stay on the server's origin, and any script error fails the test.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { nfrJson, serveNfr, spawnNfr, testEnv, waitForExit, waitForStderr, type Env } from '../../test/support/cli.js';
import { TestCluster } from '../../test/support/cluster.js';
import { launchBrowser, missingBrowser } from './support/browser.js';
import { query } from '../../test/support/data.js';

const ADMIN = 'admin-token-console-0123456789';
const READER = 'reader-token-console-0123456789';

let cluster: TestCluster;
let env: Env;
let dbUrl: string;
let server: Awaited<ReturnType<typeof serveNfr>> | undefined;
let base: string;
let browser: Browser;
const offOrigin: string[] = [];
const scriptErrors: string[] = [];

/** A fresh tab on the console; requests leaving the server's origin are refused and recorded. */
async function openConsole(): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base + '/') || url === base) return route.continue();
    offOrigin.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('pageerror', (err) => scriptErrors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // A 4xx/5xx answer is logged by the browser as "Failed to load resource"; that is the API
    // speaking, which the page shows. Anything else logged as an error is a defect.
    if (msg.type() === 'error' && !msg.text().startsWith('Failed to load resource')) scriptErrors.push(`console: ${msg.text()}`);
  });
  return { context, page };
}

async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
}

async function controlTitle(id: string): Promise<string> {
  const rows = await query<{ title: string }>(dbUrl, 'select title from src_controls_ver_control where control_id = $1 and tx_to is null', [id]);
  return rows[0]?.title ?? '(none)';
}

describe('web console', { skip: missingBrowser, timeout: 240_000 }, () => {
  before(async () => {
    cluster = await TestCluster.start();
    const db = await cluster.createDatabase('console');
    dbUrl = db.url;
    env = testEnv({
      DATABASE_URL: db.url,
      POSTGRES_BACKUP_PATH: cluster.tempDir('console-backups'),
      NFR_HOME: cluster.tempDir('console-home'),
      API_TOKENS: `admin:${ADMIN},reader:${READER}`,
    });
    const run = await nfrJson(['pipeline', 'run', '--sample'], env);
    assert.equal(run.code, 0, run.stderr);
    server = await serveNfr(env);
    base = server.base;
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
    await cluster?.stop();
    assert.deepEqual(offOrigin, [], 'the console requested something off its own origin');
    assert.deepEqual(scriptErrors, [], 'the console threw or logged script errors');
  });

  it('serves the page with a CSP that forbids inline scripts and framing, without a token', async () => {
    const res = await fetch(`${base}/snapshots`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers.get('x-frame-options'), 'DENY');
    const html = await res.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'an inline script in index.html');
    assert.doesNotMatch(html, /https?:\/\//, 'index.html refers to another origin');
    // The data behind it still needs a token.
    assert.equal((await fetch(`${base}/api/v2/devdata/snapshots`)).status, 401);
  });

  it('signs in with a token kept for the tab only, and navigates with the view in the URL', async () => {
    const { context, page } = await openConsole();
    await page.goto(`${base}/`);
    await page.getByLabel('API token').fill('wrong-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'UNAUTHORIZED' }).waitFor();

    await page.getByLabel('API token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    assert.equal(await page.evaluate(`sessionStorage.getItem('nfr.console.token')`), ADMIN);
    assert.equal(await page.evaluate('localStorage.length'), 0);
    assert.ok(!page.url().includes(ADMIN));

    // Overview: database, index, lock, stage with counts, index check.
    const indexCard = page.getByRole('region', { name: 'Index', exact: true });
    await indexCard.getByText('370').waitFor();
    await page.getByRole('region', { name: 'Operation lock' }).getByText('Free').waitFor();
    await page.getByRole('table', { name: 'Row counts' }).getByRole('row', { name: /controls 370/ }).waitFor();
    await page.getByRole('region', { name: 'Index check' }).getByText('consistent').waitFor();

    await page.getByRole('link', { name: 'Pipelines' }).click();
    await page.getByRole('heading', { name: 'Pipelines', level: 1 }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/pipelines');
    await page.getByRole('link', { name: 'Snapshots' }).click();
    await page.getByRole('heading', { name: 'Snapshots', level: 1 }).waitFor();
    await page.goBack();
    await page.getByRole('heading', { name: 'Pipelines', level: 1 }).waitFor();
    await page.reload();
    await page.getByRole('heading', { name: 'Pipelines', level: 1 }).waitFor();

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API token').waitFor();
    assert.equal(await page.evaluate(`sessionStorage.getItem('nfr.console.token')`), null);
    await context.close();
  });

  it('creates a snapshot whose hostile name shows as text, restores it with a backup, shows the report, and undoes', async () => {
    const { context, page } = await openConsole();
    await signIn(page, ADMIN);
    await page.getByRole('link', { name: 'Snapshots' }).click();
    const hostile = '<img src=x onerror="window.__pwned=1">';
    await page.getByRole('button', { name: 'Create snapshot' }).click();
    const create = page.getByRole('dialog', { name: 'Create snapshot' });
    await create.getByLabel('Name').fill(hostile);
    await create.getByLabel('Description').fill('before the console test edits AC-1');
    await create.getByLabel('Tags').fill('console, e2e');
    await create.getByRole('button', { name: 'Create' }).click();
    await create.getByText('completed.').waitFor({ timeout: 60_000 });
    const snapshotId = /SNAP-\d{4}-\d{4,}/.exec((await create.textContent()) ?? '')?.[0];
    assert.ok(snapshotId, 'the dialog names the new snapshot');
    await create.getByRole('button', { name: 'Close' }).click();

    const table = page.getByRole('table', { name: 'Snapshots' });
    const row = table.getByRole('row', { name: new RegExp(`^${snapshotId}`) });
    await row.getByText(hostile).waitFor();
    await row.getByText('completed').waitFor();
    assert.equal(await page.evaluate('window.__pwned'), undefined);
    assert.equal(await table.locator('img').count(), 0);

    // Filter by tag and text.
    await page.getByLabel('Tag', { exact: true }).selectOption('e2e');
    assert.equal(await table.getByRole('row').count(), 2, 'header and the one tagged snapshot');
    await page.getByLabel('Tag', { exact: true }).selectOption('');
    await page.getByLabel('Filter').fill('no such snapshot');
    await page.getByText('No snapshot matches the filter.').waitFor();
    await page.getByLabel('Filter').fill('');

    // A row opens its manifest.
    await row.getByRole('link', { name: snapshotId }).click();
    const manifest = page.getByRole('region', { name: `Manifest ${snapshotId}` });
    await manifest.getByText('0004_history-time-indexes').waitFor();
    await manifest.getByRole('table', { name: 'Table row counts' }).getByRole('row', { name: /src_controls_ref_control 370/ }).waitFor();
    assert.equal(new URL(page.url()).pathname, `/snapshots/${snapshotId}`);

    // Verify shows every file.
    await row.getByRole('button', { name: 'Verify' }).click();
    const verify = page.getByRole('dialog', { name: `Verify ${snapshotId}` });
    await verify.getByText(/^Intact: \d+ files/).waitFor();
    assert.ok((await verify.getByRole('table', { name: 'Verified files' }).getByRole('row').count()) > 5);
    await verify.getByRole('button', { name: 'Close', exact: true }).click();

    // Change the live data, then restore the snapshot over it with a pre-restore backup.
    const original = await controlTitle('AC-1');
    await query(dbUrl, `update src_controls_ver_control set title = 'changed by the console test' where control_id = 'AC-1' and tx_to is null`);
    await row.getByRole('button', { name: 'Restore' }).click();
    const restore = page.getByRole('dialog', { name: `Restore ${snapshotId}` });
    await restore.getByText("is the code's; it restores as it is").waitFor();
    assert.equal(await restore.getByRole('checkbox', { name: 'Pre-restore backup' }).isChecked(), true);
    assert.equal(await restore.getByRole('checkbox', { name: /Force/ }).count(), 0, 'force is offered only when the schemas differ');
    await restore.getByRole('checkbox', { name: 'Resync index' }).waitFor();
    await restore.getByRole('button', { name: 'Restore' }).click();

    const report = page.getByRole('region', { name: 'Restore report' });
    await report.getByText(`Restored ${snapshotId}`).waitFor({ timeout: 60_000 });
    const backupId = /SNAP-\d{4}-\d{4,}/.exec((await report.getByText(/^SNAP-/).first().textContent()) ?? '')?.[0];
    assert.ok(backupId && backupId !== snapshotId, 'the report names the pre-restore backup');
    assert.equal(await controlTitle('AC-1'), original);
    await table.getByRole('row', { name: new RegExp(`^${backupId}`) }).getByText('pre-restore', { exact: true }).waitFor();

    // Undo asks first, then says it was undone; the data is the changed state again.
    await page.getByRole('button', { name: 'Undo last restore' }).click();
    const undo = page.getByRole('dialog', { name: 'Undo last restore' });
    await undo.getByRole('button', { name: 'Undo' }).click();
    await page.getByText(`The restore of ${snapshotId} was undone`).waitFor({ timeout: 60_000 });
    assert.equal(await controlTitle('AC-1'), 'changed by the console test');
    await context.close();
  });

  it('keeps a queued job on screen across a reload, with the lock holder shown', async () => {
    // A CLI create stopped at a fault point holds the operation lock, so the console's job queues.
    const blocker = spawnNfr(['snapshot', 'create', '--name', 'held by the CLI'], { ...env, NFR_FAULT_POINT: 'dumped' });
    try {
      await waitForStderr(blocker, /nfr-fault-point: dumped/);
      const { context, page } = await openConsole();
      await signIn(page, ADMIN);
      await page.getByRole('region', { name: 'Operation lock' }).getByText(/Held by create/).waitFor();
      await page.getByRole('link', { name: 'Snapshots' }).click();
      await page.getByRole('button', { name: 'Create snapshot' }).click();
      const create = page.getByRole('dialog', { name: 'Create snapshot' });
      await create.getByLabel('Name').fill('queued behind the CLI');
      await create.getByRole('button', { name: 'Create' }).click();
      await create.getByRole('button', { name: 'Close' }).click();
      const jobs = page.getByRole('region', { name: 'Running jobs' });
      await jobs.getByText(/waiting for the lock held by/).waitFor();
      await page.reload();
      await page.getByRole('heading', { name: 'Snapshots', level: 1 }).waitFor();
      await jobs.getByText(/Snapshot SNAP-\d{4}-\d{4,}/).waitFor();
      blocker.kill('SIGKILL');
      await waitForExit(blocker);
      await page.getByRole('table', { name: 'Snapshots' }).getByRole('row', { name: /queued behind the CLI/ }).getByText('completed').waitFor({ timeout: 60_000 });
      await jobs.waitFor({ state: 'detached' });
      await context.close();
    } finally {
      blocker.kill('SIGKILL');
    }
  });

  it('uploads a CSV with a bad row and shows its line and field; the history lists it', async () => {
    const { context, page } = await openConsole();
    await signIn(page, ADMIN);
    await page.getByRole('link', { name: 'Pipelines' }).click();
    await page.getByLabel('Controls CSV').setInputFiles({
      name: 'two-controls.csv',
      mimeType: 'text/csv',
      buffer: Buffer.from('control_id,title,status\r\nZZ-1,A good control,active\r\nZZ-2,A bad control,bogus\r\n'),
    });
    await page.getByRole('button', { name: 'Upload' }).click();
    const errors = page.getByRole('table', { name: 'Validation errors' });
    const bad = errors.getByRole('row', { name: /status/ });
    await bad.waitFor({ timeout: 60_000 });
    assert.deepEqual(
      (await bad.getByRole('cell').allTextContents()).slice(0, 2),
      ['3', 'status'],
    );
    await page.getByLabel('Counts').getByText('Rejected').waitFor();
    const history = page.getByRole('table', { name: 'Uploads' });
    await history.getByRole('row', { name: /two-controls\.csv/ }).getByText('failed').waitFor();
    assert.equal((await query(dbUrl, `select 1 from src_controls_ref_control where control_id like 'ZZ-%'`)).length, 0, 'a rejected batch writes nothing');
    await context.close();
  });

  it('searches the NIST sample and opens a control with its themes and enrichment', async () => {
    const { context, page } = await openConsole();
    await signIn(page, ADMIN);
    await page.getByRole('link', { name: 'Search' }).click();
    await page.getByLabel('Search controls').fill('multi-factor authentication for privileged accounts');
    await page.getByLabel('Search controls').press('Enter');
    const results = page.getByRole('table', { name: 'Search results' });
    const first = results.getByRole('row').nth(1);
    await first.getByRole('link', { name: 'IA-2.1' }).waitFor();
    assert.match(new URL(page.url()).search, /q=multi-factor/);
    await first.getByRole('link', { name: 'IA-2.1' }).click();
    await page.getByRole('heading', { name: /Control IA-2\.1/ }).waitFor();
    await page.getByRole('region', { name: 'Risk themes' }).getByText('RT-IA').waitFor();
    await page.getByRole('region', { name: 'Enrichment' }).getByText('Keywords:').waitFor();
    await page.getByRole('table', { name: 'Version history' }).getByText('current').waitFor();
    await page.goBack();
    await results.getByRole('link', { name: 'IA-2.1' }).waitFor();

    // Keyword mode within one family, kept in the URL.
    await page.getByLabel('Search controls').fill('backup');
    await page.getByLabel('Mode').selectOption('keyword');
    await page.getByLabel('Family').fill('CP');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await results.getByRole('row').nth(1).getByRole('link', { name: 'CP-9', exact: true }).waitFor();
    const url = new URL(page.url());
    assert.deepEqual([url.searchParams.get('q'), url.searchParams.get('mode'), url.searchParams.get('family')], ['backup', 'keyword', 'CP']);
    const families = await results.getByRole('row').locator('td:nth-child(3)').allTextContents();
    assert.ok(families.length > 0 && families.every((f) => f === 'CP'), families.join(','));
    await page.reload();
    await results.getByRole('row').nth(1).getByRole('link', { name: 'CP-9', exact: true }).waitFor();
    assert.equal(await page.getByLabel('Mode').inputValue(), 'keyword');
    await context.close();
  });

  it('shows a reader the actions it may not take as disabled, with the reason', async () => {
    const { context, page } = await openConsole();
    await signIn(page, READER);
    await page.getByRole('link', { name: 'Snapshots' }).click();
    const row = page.getByRole('table', { name: 'Snapshots' }).getByRole('row').nth(1);
    const restore = row.getByRole('button', { name: 'Restore' });
    await restore.waitFor();
    assert.equal(await restore.isDisabled(), true);
    assert.match((await restore.getAttribute('title')) ?? '', /needs the admin role; your token has reader/i);
    assert.equal(await row.getByRole('button', { name: 'Delete' }).isDisabled(), true);
    assert.equal(await row.getByRole('button', { name: 'Verify' }).isDisabled(), false);
    assert.equal(await page.getByRole('button', { name: 'Create snapshot' }).isDisabled(), true);
    await page.getByRole('link', { name: 'Pipelines' }).click();
    assert.equal(await page.getByRole('button', { name: 'Upload' }).isDisabled(), true);
    await context.close();
  });
});
