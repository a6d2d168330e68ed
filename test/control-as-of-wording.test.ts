/**
 * `nfr control show ID --as-of T` and GET /api/v2/controls/{id}?as_of=T share one check; its
 * message names both spellings, so a CLI user is not told about an `as_of` they never typed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAsOf } from '../src/controls/detail.js';
import { NfrError } from '../src/errors.js';

describe('control as-of wording', () => {
  it('names the CLI flag and the API parameter of a bad moment, and reads a good one', () => {
    assert.throws(
      () => parseAsOf('yesterday'),
      (err: unknown) => err instanceof NfrError && err.code === 'INVALID_INPUT' && /^as_of "yesterday" \(--as-of; as_of in the API\) is not a timestamp: expected ISO 8601/.test(err.message),
    );
    assert.equal(parseAsOf('2026-11-30T12:00:00Z')?.toISOString(), '2026-11-30T12:00:00.000Z');
    assert.equal(parseAsOf(undefined), undefined);
  });
});
