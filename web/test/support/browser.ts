/**
 * The browser the console tests drive: Debian's chromium through playwright-core (never a
 * downloaded one), started the same way by every test file.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.NFR_CHROMIUM ?? '/usr/bin/chromium';

/** A test's `skip` value: false when the browser is there, else why the test cannot run. */
export const missingBrowser = existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM}: install Debian's chromium (.ci/run does) or set NFR_CHROMIUM`;

/** Starts chromium headless, as root (no sandbox), with no traffic of its own. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}
