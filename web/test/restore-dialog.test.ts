/**
 * The restore experience at 1280×800 in a real browser: the restore dialog shows what the
 * restore would change (the diff against live) with its Restore button in view, a snapshot's
 * page compares it with live, and a started restore's progress is brought into view.
 * NFR_SCREENSHOTS=DIR keeps screenshots of each for a person to look at.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { nfrJson, serveNfr, testEnv, type Env } from '../../test/support/cli.js';
import { TestCluster } from '../../test/support/cluster.js';
import { launchBrowser, missingBrowser } from './support/browser.js';
import { query, seed } from '../../test/support/data.js';

const ADMIN = 'admin-token-restore-dialog-0123456789';

let cluster: TestCluster;
let env: Env;
let server: Awaited<ReturnType<typeof serveNfr>> | undefined;
let browser: Browser;

async function shot(page: Page, name: string): Promise<void> {
  if (process.env.NFR_SCREENSHOTS) await page.screenshot({ path: path.join(process.env.NFR_SCREENSHOTS, `${name}.png`) });
}

/** True when the element is wholly inside the viewport. */
async function inView(page: Page, el: Locator): Promise<boolean> {
  const box = await el.boundingBox();
  const vp = page.viewportSize();
  return box !== null && vp !== null && box.y >= 0 && box.y + box.height <= vp.height;
}

describe('restore experience at 1280×800', { skip: missingBrowser, timeout: 240_000 }, () => {
  let snapshotId: string;
  before(async () => {
    cluster = await TestCluster.start();
    const db = await cluster.createDatabase('restoredialog');
    env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('rd-backups'), NFR_HOME: cluster.tempDir('rd-home'), API_TOKENS: `admin:${ADMIN}` });
    await seed(db.url, { controls: 300 });
    const created = await nfrJson(['snapshot', 'create', '--name', 'before the bad load'], env);
    assert.equal(created.code, 0, created.stderr);
    snapshotId = created.body.id;
    // A bad load, versioned as ingestion writes it: two controls added, one closed, one changed.
    await query(db.url, "insert into src_controls_ref_control (control_id) values ('CTRL-NEW-1'), ('CTRL-NEW-2')");
    await query(db.url, "insert into src_controls_ver_control (control_id, title, status, text_hash) values ('CTRL-NEW-1', 'New 1', 'active', 'x'), ('CTRL-NEW-2', 'New 2', 'active', 'y')");
    await query(db.url, "update src_controls_ver_control set tx_to = now() where control_id in ('CTRL-000001', 'CTRL-000002') and tx_to is null");
    await query(db.url, "insert into src_controls_ver_control (control_id, title, status, text_hash) values ('CTRL-000002', 'Reworded', 'active', 'z')");
    server = await serveNfr(env);
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await cluster?.stop();
  });

  it('shows what the restore changes before the Restore button, both in view, and the comparison on the snapshot page', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${server!.base}/`);
    await page.getByLabel('API token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Overview', level: 1 }).waitFor();
    await page.getByRole('link', { name: 'Snapshots' }).click();
    const row = page.getByRole('table', { name: 'Snapshots' }).getByRole('row', { name: new RegExp(`^${snapshotId}`) });
    await row.getByRole('button', { name: 'Restore' }).click();
    const dialog = page.getByRole('dialog', { name: `Restore ${snapshotId}` });
    const summary = dialog.getByRole('region', { name: 'What the restore changes' });
    await summary.getByText(/A restore removes 2 controls added since .*, brings back 1, reverts 1/).waitFor();
    await shot(page, 'restore-dialog');
    assert.ok(await inView(page, dialog.getByRole('button', { name: 'Restore' })), 'the Restore button is in view at 1280×800');
    assert.ok(await inView(page, summary.getByText(/A restore removes/)), 'the summary is in view');
    await summary.getByRole('button', { name: 'see all' }).click();
    const rows = summary.getByRole('table', { name: 'Changes a restore would make' }).getByRole('row');
    assert.equal(await rows.count(), 5, 'a header and four changes');
    await summary.getByRole('row', { name: /CTRL-000002/ }).getByText(/title: "Reworded" → /).waitFor();
    await shot(page, 'restore-dialog-see-all');
    assert.ok(await inView(page, dialog.getByRole('button', { name: 'Restore' })), 'still in view with the list open');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // The snapshot's page opens at its manifest and compares with live.
    await row.getByRole('link', { name: snapshotId }).click();
    const manifest = page.getByRole('region', { name: `Manifest ${snapshotId}` });
    await manifest.getByRole('heading', { name: `Manifest ${snapshotId}` }).waitFor();
    assert.ok(await inView(page, manifest.getByRole('heading', { name: `Manifest ${snapshotId}` })), 'the manifest is scrolled into view');
    await manifest.getByRole('button', { name: 'Compare' }).click();
    await manifest.getByText(/A restore removes 2 controls added since/).waitFor();
    await shot(page, 'snapshot-page-compare');
    await context.close();
  });

  it("shows a scratch comparison's job with the console's progress component, named, until the summary replaces it", async () => {
    // A snapshot the live database no longer descends from (restored over by an older one, then
    // changed): its diff needs a scratch restore, which runs as a job.
    const later = await nfrJson(['snapshot', 'create', '--name', 'after the bad load'], env);
    assert.equal(later.code, 0, later.stderr);
    const back = await nfrJson(['snapshot', 'restore', '--id', snapshotId, '--yes', '--skip-backup'], env);
    assert.equal(back.code, 0, back.stderr);
    await query(env.DATABASE_URL as string, "insert into src_controls_ref_control (control_id) values ('CTRL-NEW-3')");
    await query(env.DATABASE_URL as string, "insert into src_controls_ver_control (control_id, title, status, text_hash) values ('CTRL-NEW-3', 'New 3', 'active', 'w')");
    // This server holds the scratch restore at its start until told to go on (SIGUSR2), so the
    // job is seen running whatever the machine's speed.
    await server?.stop();
    server = await serveNfr({ ...env, NFR_FAULT_POINT: 'restoring:hold' });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${server.base}/`);
    await page.getByLabel('API token').fill(ADMIN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Snapshots' }).click();
    const row = page.getByRole('table', { name: 'Snapshots' }).getByRole('row', { name: new RegExp(`^${later.body.id}`) });
    await row.getByRole('button', { name: 'Restore' }).click();
    const dialog = page.getByRole('dialog', { name: `Restore ${later.body.id}` });
    const comparing = dialog.getByRole('region', { name: 'Comparing with a copy of the snapshot' });
    const bar = comparing.getByRole('progressbar', { name: `Comparison with ${later.body.id} progress` });
    await bar.waitFor();
    await comparing.getByText('running', { exact: true }).waitFor();
    await comparing.getByText(/phase restoring/).waitFor(); // the phase, as for every job
    assert.ok(await comparing.getByRole('button', { name: 'Cancel' }).isVisible(), 'the job can be cancelled from here, as any job');
    await shot(page, 'restore-dialog-scratch-diff');
    server.child.kill('SIGUSR2');
    const summary = dialog.getByRole('region', { name: 'What the restore changes' });
    await summary.getByText(/Computed from a scratch restore/).waitFor();
    assert.equal(await bar.count(), 0, 'the progress gives way to the summary');
    await summary.getByText(/A restore removes \d+ controls? added since/).waitFor();
    await context.close();
  });
});
