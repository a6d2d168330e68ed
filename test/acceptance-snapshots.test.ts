/**
 * Snapshots as a hostile operator meets them (SPEC §5): directories copied, edited or broken by
 * hand in POSTGRES_BACKUP_PATH. One cluster for the file.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { nfrJson } from './support/cli.js';
import { fileCluster } from './support/cluster.js';
import { freshDatabase } from './support/setup.js';

const cluster = fileCluster();

describe('snapshot acceptance', () => {
  it('a directory holding another snapshot\'s manifest is damaged: listed once, never pruned in the real one\'s place', async () => {
    const db = await freshDatabase(cluster, 'acc_copy');
    const created = await nfrJson(['snapshot', 'create', '--name', 'original'], db.env);
    assert.equal(created.code, 0, created.stderr);
    const id: string = created.body.id;
    const copyId = id.replace(/\d+$/, (n) => String(Number(n) + 10).padStart(n.length, '0'));
    await cp(path.join(db.backups, id), path.join(db.backups, copyId), { recursive: true });

    const listed = await nfrJson(['snapshot', 'list'], db.env);
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(listed.body.snapshots.map((s: { id: string }) => s.id), [id]);
    assert.deepEqual(listed.body.damaged, [{ id: copyId, problem: `snapshot directory ${copyId} holds the manifest of ${id}` }]);

    const plan = await nfrJson(['snapshot', 'prune', '--dry-run'], db.env);
    assert.equal(plan.code, 0, plan.stderr);
    assert.deepEqual(plan.body.deleted.map((s: { id: string }) => s.id), []);
    assert.deepEqual(plan.body.kept.map((s: { id: string }) => s.id), [id]);

    const deleted = await nfrJson(['snapshot', 'delete', '--id', copyId, '--yes'], db.env);
    assert.equal(deleted.code, 0, deleted.stderr);
    const verified = await nfrJson(['snapshot', 'verify', '--id', id], db.env);
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal(verified.body.ok, true);
  });

  it('POSTGRES_BACKUP_PATH naming a file, or a path through one, is a configuration error naming it, not an internal error or an empty catalog', async () => {
    const db = await freshDatabase(cluster, 'acc_file');
    const file = path.join(cluster.tempDir('acc-file'), 'backups.txt');
    await writeFile(file, 'not a repository\n');
    for (const backups of [file, path.join(file, 'sub')]) {
      const env = { ...db.env, POSTGRES_BACKUP_PATH: backups };
      for (const args of [['snapshot', 'create', '--name', 'x'], ['snapshot', 'list'], ['snapshot', 'status'], ['snapshot', 'prune', '--dry-run']]) {
        const r = await nfrJson(args, env);
        assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
        assert.equal(r.body.error.code, 'CONFIG', args.join(' '));
        assert.match(r.body.error.message, /^POSTGRES_BACKUP_PATH .*backups\.txt(\/sub)? is not a directory/, args.join(' '));
      }
    }
    assert.equal(await readFile(file, 'utf8'), 'not a repository\n');

    // A file where the repository keeps one of its own directories is named, not the repository.
    const repo = cluster.tempDir('acc-file-tmp');
    await mkdir(repo, { recursive: true });
    await writeFile(path.join(repo, '.tmp'), 'in the way\n');
    const r = await nfrJson(['snapshot', 'create', '--name', 'x'], { ...db.env, POSTGRES_BACKUP_PATH: repo });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.body.error.message, `${path.join(repo, '.tmp')} in POSTGRES_BACKUP_PATH is a file where nfr keeps a directory; move it away`);
  });

  it('a snapshot directory whose manifest.json was deleted, or is no file, is damaged and can be deleted, not NOT_FOUND or an internal error', async () => {
    const db = await freshDatabase(cluster, 'acc_nomanifest');
    const ids: string[] = [];
    for (const name of ['manifest deleted', 'manifest a directory']) {
      const created = await nfrJson(['snapshot', 'create', '--name', name], db.env);
      assert.equal(created.code, 0, created.stderr);
      ids.push(created.body.id);
    }
    const [gone, dirManifest] = ids as [string, string];
    await rm(path.join(db.backups, gone, 'manifest.json'));
    await rm(path.join(db.backups, dirManifest, 'manifest.json'));
    await mkdir(path.join(db.backups, dirManifest, 'manifest.json'));

    const listed = await nfrJson(['snapshot', 'list'], db.env);
    assert.deepEqual(listed.body.damaged.map((d: { id: string }) => d.id), ids);
    const verified = await nfrJson(['snapshot', 'verify', '--id', dirManifest], db.env);
    assert.equal(verified.code, 6, verified.stderr);
    assert.equal(verified.body.error.code, 'VERIFY_FAILED');
    assert.match(verified.body.error.message, /manifest\.json cannot be read/);

    for (const id of ids) {
      const deleted = await nfrJson(['snapshot', 'delete', '--id', id, '--yes'], db.env);
      assert.equal(deleted.code, 0, `${id}: ${deleted.stderr}`);
      assert.equal(deleted.body.id, id);
      assert.ok(!existsSync(path.join(db.backups, id)), id);
    }
    const after = await nfrJson(['snapshot', 'list'], db.env);
    assert.deepEqual(after.body.damaged, []);
    assert.deepEqual(after.body.snapshots, []);
  });

  it('a sequence file damaged by hand is rebuilt, and a deleted snapshot\'s id is still not reused', async () => {
    const db = await freshDatabase(cluster, 'acc_sequence');
    const sequence = path.join(db.backups, '.state', 'sequence.json');
    const number = (id: string): number => Number(id.split('-')[2]);
    for (const damage of ['{"2026": 3', '{"2026": "x"}']) {
      const ids: string[] = [];
      for (const name of ['kept', 'deleted']) {
        const created = await nfrJson(['snapshot', 'create', '--name', name], db.env);
        assert.equal(created.code, 0, created.stderr);
        ids.push(created.body.id);
      }
      const deleted = await nfrJson(['snapshot', 'delete', '--id', ids[1] as string, '--yes'], db.env);
      assert.equal(deleted.code, 0, deleted.stderr);
      await writeFile(sequence, damage);

      const next = await nfrJson(['snapshot', 'create', '--name', 'after the damage'], db.env);
      assert.equal(next.code, 0, `${damage}: ${next.stderr}`);
      assert.equal(number(next.body.id), number(ids[1] as string) + 1, damage);
      assert.equal(await readFile(`${sequence}.damaged`, 'utf8'), damage);
      assert.equal(JSON.parse(await readFile(sequence, 'utf8'))[next.body.id.split('-')[1]], number(next.body.id));
    }
  });

  it('a directory made by hand where the lock file goes does not block the next operation', async () => {
    const db = await freshDatabase(cluster, 'acc_lockdir');
    await mkdir(path.join(db.backups, '.locks', 'snapshot_operation.lock', 'inside'), { recursive: true });
    const created = await nfrJson(['snapshot', 'create', '--name', 'after the lock directory'], db.env);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.body.status, 'completed');
    assert.ok(!existsSync(path.join(db.backups, '.locks', 'snapshot_operation.lock')), 'the lock file is removed on release');
  });

  it('names and descriptions with DEL, C1 controls or bidirectional overrides are refused before anything is written; emoji and accents are not', async () => {
    const db = await freshDatabase(cluster, 'acc_names');
    for (const name of ['rub\u007fout', 'csi\u009b31m', 'evil\u202egpj.exe', 'iso\u2066late', 'line\u2028sep']) {
      const r = await nfrJson(['snapshot', 'create', '--name', name], db.env);
      assert.equal(r.code, 12, JSON.stringify(name));
      assert.equal(r.body.error.code, 'INVALID_INPUT');
      assert.match(r.body.error.message, /^invalid snapshot name [\s\S]*: expected 1 to 200 printable characters$/);
    }
    const described = await nfrJson(['snapshot', 'create', '--name', 'ok', '--description', 'csi\u009b2J'], db.env);
    assert.equal(described.code, 12, described.stderr);
    assert.equal(described.body.error.code, 'INVALID_INPUT');
    const listed = await nfrJson(['snapshot', 'list'], db.env);
    assert.deepEqual(listed.body.snapshots, []);

    const name = 'ünïcödé 👨\u200d👩\u200d👧 snapshot';
    const created = await nfrJson(['snapshot', 'create', '--name', name, '--description', 'two\nlines\tand a tab'], db.env);
    assert.equal(created.code, 0, created.stderr);
    assert.equal(created.body.name, name);
    assert.equal(created.body.description, 'two\nlines\tand a tab');
  });

  it('a full snapshot with DATA_INGESTED_PATH or NFR_INDEX_PATH naming a file is refused up front, naming the variable', async () => {
    const db = await freshDatabase(cluster, 'acc_full_file');
    const file = path.join(cluster.tempDir('acc-full-file'), 'a-file');
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, 'in the way\n');
    for (const name of ['DATA_INGESTED_PATH', 'NFR_INDEX_PATH']) {
      const r = await nfrJson(['snapshot', 'create', '--name', 'full', '--full'], { ...db.env, [name]: file });
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.equal(r.body.error.code, 'CONFIG');
      assert.equal(r.body.error.message, `${name} ${file} is not a directory, so a full snapshot cannot copy it; point ${name} at a directory`);
    }
    const listed = await nfrJson(['snapshot', 'list'], db.env);
    assert.deepEqual(listed.body.snapshots, []);
    const status = await nfrJson(['snapshot', 'status'], db.env);
    assert.deepEqual(status.body.leftovers, []);
    assert.equal(await readFile(file, 'utf8'), 'in the way\n');
  });

  it('a last-restore record damaged by hand is named with what to do, and nothing is restored over it', async () => {
    const db = await freshDatabase(cluster, 'acc_laststate');
    const migrated = await nfrJson(['db', 'migrate'], db.env);
    assert.equal(migrated.code, 0, migrated.stderr);
    const created = await nfrJson(['snapshot', 'create', '--name', 'base'], db.env);
    assert.equal(created.code, 0, created.stderr);
    const restored = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], db.env);
    assert.equal(restored.code, 0, restored.stderr);
    const record = path.join(db.backups, '.state', `last-restore.${encodeURIComponent(db.name)}.json`);
    assert.ok(existsSync(record), record);
    await writeFile(record, '{"database": ');

    for (const args of [['snapshot', 'status'], ['snapshot', 'restore', '--undo', '--yes'], ['snapshot', 'restore', '--id', created.body.id, '--yes']]) {
      const r = await nfrJson(args, db.env);
      assert.equal(r.code, 6, `${args.join(' ')}: ${r.stderr}`);
      assert.equal(r.body.error.code, 'VERIFY_FAILED');
      assert.match(r.body.error.message, /^state file .*last-restore\..*\.json is not valid JSON .*: it was changed by hand or damaged; move it out of /);
    }
    assert.equal(await readFile(record, 'utf8'), '{"database": ');
    const listed = await nfrJson(['snapshot', 'list'], db.env);
    assert.deepEqual(listed.body.snapshots.map((s: { id: string }) => s.id), [created.body.id]);

    await rm(record);
    const again = await nfrJson(['snapshot', 'restore', '--id', created.body.id, '--yes', '--skip-backup'], db.env);
    assert.equal(again.code, 0, again.stderr);
  });
});
