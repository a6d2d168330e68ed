/** Manifest validation: file paths never escape the snapshot directory. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { manifestFields } from '../src/snapshot/manifest.js';

describe('manifest', () => {
  it('rejects file paths that escape the snapshot directory', () => {
    const base = { path: 'db/toc.dat', size: 1, sha256: 'a'.repeat(64) };
    const files = manifestFields.shape.files;
    assert.equal(files.safeParse([base]).success, true);
    for (const p of ['../x', 'db/../../x', '/etc/passwd', 'db//x']) assert.equal(files.safeParse([{ ...base, path: p }]).success, false, p);
  });
});
