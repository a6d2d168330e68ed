/**
 * A bad schedule is refused naming what was wrong the way the caller wrote it: the API answers
 * POST /api/v2/devdata/snapshots/schedules with the same checks as `nfr schedule add`, so the
 * message names the body's field (cron, tz, name) as well as the CLI's flag, instead of a
 * `--cron` that no API client sent.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NfrError } from '../src/errors.js';
import { checkScheduleInput } from '../src/schedules/store.js';

function refusal(input: Parameters<typeof checkScheduleInput>[0]): string {
  try {
    checkScheduleInput(input);
  } catch (err) {
    assert.ok(err instanceof NfrError);
    assert.equal(err.code, 'INVALID_INPUT');
    return err.message;
  }
  assert.fail(`accepted ${JSON.stringify(input)}`);
}

describe('schedule input wording', () => {
  it('names the API field and the CLI flag of a bad cron, time zone and name', () => {
    assert.match(refusal({ name: 'x', cron: '0 25 * * *' }), /^cron "0 25 \* \* \*" \(--cron; cron in the API\) is not a valid cron expression: .*hour 0-23/);
    assert.match(refusal({ name: 'x', cron: '* * *' }), /^cron "\* \* \*" \(--cron; cron in the API\) has 3 field\(s\); a schedule needs 5/);
    assert.match(refusal({ name: 'x', cron: '0 2 * * *', tz: 'Europe/Londres' }), /^tz "Europe\/Londres" \(--tz; tz in the API\) is not a time zone/);
    assert.match(refusal({ name: 'bad name', cron: '0 2 * * *' }), /^name "bad name" \(--name; name in the API\) is not a valid schedule name/);
    assert.match(refusal({ name: 'x' } as Parameters<typeof checkScheduleInput>[0]), /^cron \(--cron; cron in the API\) is required/);
    assert.deepEqual(checkScheduleInput({ name: 'nightly', cron: ' 0  2 * * * ', tz: 'Europe/London' }), { name: 'nightly', cron: '0 2 * * *', tz: 'Europe/London', full: false, warm: false, tags: [], prune: false });
  });
});
