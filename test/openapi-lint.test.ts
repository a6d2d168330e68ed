/**
 * The API document as real tools read it: `redocly lint` with the recommended rules (see
 * redocly.yaml) finds no error and no warning, every operation has a unique operationId, and a
 * generated client can send the controls upload.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { REPO_ROOT, serveNfr, testEnv } from './support/cli.js';
import { fileCluster } from './support/cluster.js';

const TOKEN = 'reader-token-openapi-0123456789';
const cluster = fileCluster();

function lint(file: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const cli = path.join(REPO_ROOT, 'node_modules', '@redocly', 'cli', 'bin', 'cli.js');
    const child = spawn(process.execPath, [cli, 'lint', file, '--config', path.join(REPO_ROOT, 'redocly.yaml'), '--format=json'], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' },
      cwd: REPO_ROOT,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

describe('OpenAPI document', () => {
  it('lints clean with the recommended rules, with an operationId per operation and the upload body', async () => {
    const db = await cluster.createDatabase('openapi');
    const env = testEnv({ DATABASE_URL: db.url, POSTGRES_BACKUP_PATH: cluster.tempDir('openapi-backups'), NFR_HOME: cluster.tempDir('openapi-home'), API_TOKENS: `reader:${TOKEN}` });
    const server = await serveNfr(env);
    try {
      const res = await fetch(`${server.base}/api/v2/openapi.json`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(res.status, 200);
      const doc = (await res.json()) as { paths: Record<string, Record<string, { operationId?: string; requestBody?: any; responses: Record<string, unknown> }>>; servers?: unknown[] };
      const file = path.join(cluster.tempDir('openapi-doc'), 'openapi.json');
      await writeFile(file, JSON.stringify(doc, null, 2));

      const result = await lint(file);
      const report = JSON.parse(result.stdout) as { totals: { errors: number; warnings: number }; problems: { ruleId: string; message: string; location?: { pointer?: string }[] }[] };
      const problems = report.problems.map((p) => `${p.ruleId} ${p.location?.[0]?.pointer ?? ''}: ${p.message}`);
      assert.deepEqual(problems, [], 'redocly lint problems');
      assert.deepEqual(report.totals, { ...report.totals, errors: 0, warnings: 0 });

      const ops = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => ({ id: op.operationId, where: `${m} ${p}`, op })));
      assert.ok(ops.length >= 25, `${ops.length} operations`);
      assert.equal(new Set(ops.map((o) => o.id)).size, ops.length, 'operationIds are unique');
      const upload = doc.paths['/api/v2/pipelines/controls/ingest']?.post;
      assert.equal(upload?.requestBody?.content?.['multipart/form-data']?.schema?.properties?.file?.format, 'binary');
      const verify = doc.paths['/api/v2/devdata/snapshots/{id}/verify']?.post;
      assert.equal(verify?.requestBody?.required, false, 'an empty body works, so it is not required');
      const job = doc.paths['/api/v2/jobs/{job_id}']?.get?.responses['200'] as any;
      assert.ok(job?.content?.['application/json']?.schema?.properties?.status?.enum?.includes('running'), 'jobs are typed');
      // Manifests and the snapshot reports are typed, not bare objects.
      const schemaOf = (p: string, m: string) => (doc.paths[p]?.[m]?.responses['200'] as any)?.content?.['application/json']?.schema;
      const manifest = schemaOf('/api/v2/devdata/snapshots/{id}', 'get');
      assert.ok(manifest.properties.tables.items.properties.rows, 'manifest tables have row counts');
      assert.ok(manifest.properties.files.items.properties.sha256, 'manifest files have checksums');
      assert.ok(manifest.properties.warm, 'the warm copy is documented');
      // No 200 answer is a bare object: every one names its fields.
      const bare = ops.filter(({ op }) => {
        const schema = (op.responses['200'] as any)?.content?.['application/json']?.schema;
        return schema?.type === 'object' && !schema.properties;
      });
      assert.deepEqual(bare.map((o) => o.where), []);
      for (const [p, m, field] of [
        ['/api/v2/devdata/snapshots', 'get', 'snapshots'],
        ['/api/v2/devdata/snapshots/{id}/restore-plan', 'get', 'schema'],
        ['/api/v2/devdata/snapshots/{id}/verify', 'post', 'files'],
        ['/api/v2/devdata/snapshots/prune', 'post', 'deleted'],
        ['/api/v2/devdata/snapshots/{id}', 'delete', 'freed_bytes'],
        ['/api/v2/devdata/snapshots/{id}/cool', 'post', 'cooled'],
        ['/api/v2/devdata/snapshots/status', 'get', 'lock'],
        ['/api/v2/devdata/snapshots/health', 'get', 'checks'],
        ['/api/v2/pipelines/status', 'get', 'stage'],
        ['/api/v2/pipelines/uploads', 'get', 'uploads'],
        ['/api/v2/pipelines/index/check', 'get', 'missing'],
        ['/api/v2/controls/{id}', 'get', 'history'],
        ['/api/v2/controls/search', 'get', 'next_cursor'],
        ['/api/v2/controls/search', 'post', 'results'],
      ] as const) {
        assert.ok(schemaOf(p, m)?.properties?.[field], `${m} ${p} documents ${field}`);
      }
    } finally {
      await server.stop();
    }
  });
});
