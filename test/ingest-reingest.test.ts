/**
 * What the shortcuts of a re-ingestion must not change: the text hash of a control (its
 * whitespace normalisation, now skipped for text that is already clean), and parent cycles closed
 * by a file whose other rows on the cycle are unchanged (the cycle check walks only from changed
 * parents, and then names every row on the cycle as before).
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { controlText } from '../src/ingest/text.js';
import { nfrJson, type Env } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { controlsDb, csv, row } from './support/controls-fixtures.js';
import { query } from './support/data.js';

/** The normalisation as it was written first: NFC, every whitespace run one space, trimmed. */
const reference = (s: string) => s.normalize('NFC').replace(/\s+/g, ' ').trim();

describe('control text', () => {
  it('normalises whitespace exactly as NFC, collapse and trim do, for clean and unclean text', () => {
    const samples = [
      'Review access', ' leading', 'trailing ', 'two  spaces', 'tab\there', 'line\nbreak', 'crlf\r\nend', 'nbsp\u00a0inside', 'ideographic\u3000space',
      'bom\ufeffinside', '\u2028separator', 'cafe\u0301 (decomposed)', 'café', 'one space only between words', ' \t ', 'x', 'a \u00a0b', 'end\n',
    ];
    for (const title of samples) {
      for (const description of [null, '', ...samples]) {
        const expected = description && reference(description) ? `${reference(title)}\n${reference(description)}` : reference(title);
        assert.equal(controlText(title, description), expected, JSON.stringify([title, description]));
      }
    }
  });
});

const cluster = fileCluster();

async function write(dir: string, name: string, text: string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, text);
  return file;
}

const ingest = (file: string, env: Env, ...flags: string[]) => nfrJson(['ingest', 'controls', file, ...flags], env);

describe('re-ingest: parent cycles', () => {
  it('an unchanged file passes; one new parent closing a cycle through unchanged rows rejects every row on it', async () => {
    const db = await controlsDb(cluster, 'reingest_cycles');
    const chain = [row('PC-1'), row('PC-2', { parent_control_id: 'PC-1' }), row('PC-3', { parent_control_id: 'PC-2' }), row('OK-1')];
    const first = await ingest(await write(db.dir, 'chain.csv', csv(chain)), db.env);
    assert.equal(first.code, 0, first.stderr);
    const again = await ingest(await write(db.dir, 'chain-again.csv', csv(chain)), db.env);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(again.body.controls, { inserted: 0, updated: 0, unchanged: 4, closed: 0 });

    // PC-1's new parent PC-3 closes PC-1 → PC-3 → PC-2 → PC-1; PC-2's and PC-3's rows are as before.
    const looped = [row('PC-1', { parent_control_id: 'PC-3' }), ...chain.slice(1)];
    const r = await ingest(await write(db.dir, 'looped.csv', csv(looped)), db.env);
    assert.equal(r.code, 12, r.stderr);
    assert.deepEqual(
      r.body.error.details.errors.map((e: { line: number; message: string }) => [e.line, e.message]),
      [
        [2, 'parent cycle: PC-1 (line 2) → PC-3 (line 4) → PC-2 (line 3) → PC-1; a control cannot be its own ancestor'],
        [3, 'parent cycle: PC-2 (line 3) → PC-1 (line 2) → PC-3 (line 4) → PC-2; a control cannot be its own ancestor'],
        [4, 'parent cycle: PC-3 (line 4) → PC-2 (line 3) → PC-1 (line 2) → PC-3; a control cannot be its own ancestor'],
      ],
    );
    const [pc1] = await query(db.url, "select parent_control_id from src_controls_ver_control where control_id = 'PC-1' and tx_to is null");
    assert.equal(pc1.parent_control_id, null, 'nothing written');
    const [versions] = await query(db.url, 'select count(*)::int as n from src_controls_ver_control');
    assert.equal(versions.n, 4, 'the unchanged re-ingest wrote no history either');
  });
});
