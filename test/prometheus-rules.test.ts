/**
 * The alerting rules shipped in deploy/prometheus/ (issue 22 item 4), checked and unit-tested by
 * the real promtool: `promtool check rules` and `promtool test rules` (series from two servers,
 * each rule firing when it should and not otherwise). promtool missing is a failure, not a skip:
 * CI installs it (Debian's `prometheus` package).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT } from './support/cli.js';

const PROMTOOL = '/usr/bin/promtool';
const DIR = path.join(REPO_ROOT, 'deploy', 'prometheus');

function promtool(args: string[]): { status: number | null; output: string } {
  assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is missing: install Debian's prometheus package (apt-get install prometheus) to test the alerting rules`);
  const r = spawnSync(PROMTOOL, args, { cwd: DIR, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('Prometheus alerting rules', () => {
  it('are valid rules', () => {
    const r = promtool(['check', 'rules', 'nfr-alerts.yml']);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS: \d+ rules found/);
  });

  it('pass their unit tests (promtool test rules)', () => {
    const r = promtool(['test', 'rules', 'nfr-alerts.test.yml']);
    assert.equal(r.status, 0, r.output);
    assert.match(r.output, /SUCCESS/);
  });
});
