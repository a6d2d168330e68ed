/**
 * A real object store for the offsite tests: OpenStack Swift (Debian's packages) with its s3api
 * middleware, one-replica rings on loopback in a temporary directory, tempauth credentials and
 * a memcached of its own (s3api needs the `cache` filter). Every server is a child process spawned
 * without a shell, on a free port, and stopped in stop(). One per test file.
 *
 * Swift 2.30 quirks the product must live with (and these tests therefore exercise): conditional
 * PUTs answer 501, `x-amz-checksum-*` is stored but not checked, and a streamed PutObject with the
 * SDK's default CRC32 trailer (aws-chunked) answers 501.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, closeSync, constants, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { waitFor } from './wait.js';

const SERVERS = ['account', 'container', 'object'] as const;
const REQUIRED = ['swift-proxy-server', 'swift-account-server', 'swift-container-server', 'swift-object-server', 'swift-ring-builder', 'memcached'];

export const SWIFT_ACCESS_KEY = 'test:tester';
export const SWIFT_SECRET_KEY = 'testing';

function which(program: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/bin', '/usr/sbin'])) {
    const candidate = path.join(dir, program);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function waitHealthy(url: string, child: ChildProcess, log: string, timeoutMs = 120_000): Promise<void> {
  await waitFor(
    async () => {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${path.basename(log, '.log')} exited (${child.exitCode ?? child.signalCode}); see ${log}`);
      // Not listening yet answers no.
      return fetch(url, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    },
    { timeoutMs, intervalMs: 100, what: `${url} to answer (see ${log})` },
  );
}

function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const force = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill(signal);
  });
}

export class TestSwift {
  private proxy: ChildProcess | undefined;
  private readonly others: ChildProcess[] = [];

  private constructor(
    readonly root: string,
    readonly proxyPort: number,
  ) {}

  /** The S3 endpoint (path-style). */
  get endpoint(): string {
    return `http://127.0.0.1:${this.proxyPort}`;
  }

  /**
   * Starts memcached, the account, container and object servers and the proxy. Fails (never
   * skips) when Swift is not installed: CI installs it (.ci/run).
   */
  static async start(): Promise<TestSwift> {
    const missing = REQUIRED.filter((p) => !which(p));
    if (missing.length) {
      throw new Error(
        `the offsite tests need OpenStack Swift with s3api and memcached; not found on PATH: ${missing.join(', ')}. ` +
          'Install the Debian packages swift swift-proxy swift-account swift-container swift-object memcached (.ci/run does).',
      );
    }
    const root = mkdtempSync(path.join(tmpdir(), 'nfr-swift-'));
    const [memcachePort, proxyPort, ...serverPorts] = await Promise.all([freePort(), freePort(), ...SERVERS.map(() => freePort())]);
    const swift = new TestSwift(root, proxyPort as number);
    try {
      await swift.configure(memcachePort as number, serverPorts as number[]);
      const asRoot = process.getuid?.() === 0;
      swift.others.push(swift.spawnLogged('memcached', ['-l', '127.0.0.1', '-p', String(memcachePort), '-U', '0', ...(asRoot ? ['-u', 'root'] : [])], 'memcached'));
      for (const name of SERVERS) swift.others.push(swift.spawnLogged(`swift-${name}-server`, [path.join(root, `${name}.conf`)], name));
      await Promise.all(SERVERS.map((name, i) => waitHealthy(`http://127.0.0.1:${serverPorts[i]}/healthcheck`, swift.others[i + 1] as ChildProcess, path.join(root, `${name}.log`))));
      await swift.startProxy();
      return swift;
    } catch (err) {
      await swift.stop();
      throw err;
    }
  }

  private async configure(memcachePort: number, serverPorts: number[]): Promise<void> {
    const root = this.root;
    mkdirSync(path.join(root, 'srv', 'd1'), { recursive: true });
    // Swift drops privileges to `user`; as root, staying root keeps the temp directory writable.
    const user = process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'nobody');
    const common = `bind_ip = 127.0.0.1\nworkers = 0\nuser = ${user}\nswift_dir = ${root}\ndevices = ${path.join(root, 'srv')}\nmount_check = false\nlog_level = WARNING\n`;
    for (const [i, name] of SERVERS.entries()) {
      const port = serverPorts[i] as number;
      const builder = path.join(root, `${name}.builder`);
      ringBuilder([builder, 'create', '4', '1', '1']);
      ringBuilder([builder, 'add', `r1z1-127.0.0.1:${port}/d1`, '100']);
      ringBuilder([builder, 'rebalance']);
      writeFileSync(
        path.join(root, `${name}.conf`),
        `[DEFAULT]\nbind_port = ${port}\n${common}\n[pipeline:main]\npipeline = healthcheck ${name}-server\n\n[app:${name}-server]\nuse = egg:swift#${name}\n\n[filter:healthcheck]\nuse = egg:swift#healthcheck\n\n[${name}-replicator]\n[${name}-updater]\n[${name}-auditor]\n`,
      );
    }
    const filters = ['catch_errors', 'gatekeeper', 'healthcheck', 'proxy_logging', 'copy', 'slo', 'dlo'];
    writeFileSync(
      path.join(root, 'proxy.conf'),
      [
        `[DEFAULT]\nbind_port = ${this.proxyPort}\n${common}`,
        '[pipeline:main]\npipeline = catch_errors gatekeeper healthcheck proxy_logging cache s3api tempauth copy slo dlo proxy_logging proxy-server\n',
        '[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n',
        `[filter:tempauth]\nuse = egg:swift#tempauth\nuser_test_tester = ${SWIFT_SECRET_KEY} .admin\n`,
        '[filter:s3api]\nuse = egg:swift#s3api\n',
        `[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:${memcachePort}\n`,
        ...filters.map((f) => `[filter:${f}]\nuse = egg:swift#${f}\n`),
      ].join('\n'),
    );
  }

  private spawnLogged(program: string, args: string[], name: string): ChildProcess {
    const fd = openSync(path.join(this.root, `${name}.log`), 'a');
    try {
      return spawn(program, args, { stdio: ['ignore', fd, fd], env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C.UTF-8' } });
    } finally {
      closeSync(fd);
    }
  }

  /** Starts (or restarts) the proxy: the S3 endpoint. */
  async startProxy(): Promise<void> {
    this.proxy = this.spawnLogged('swift-proxy-server', [path.join(this.root, 'proxy.conf')], 'proxy');
    await waitHealthy(`${this.endpoint}/healthcheck`, this.proxy, path.join(this.root, 'proxy.log'));
  }

  /** Stops the proxy: the store stops answering (as an outage would), the data stays. */
  async stopProxy(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await stopChild(this.proxy, signal);
    this.proxy = undefined;
  }

  /** The environment a client of this store needs, the AWS SDK's standard variables. */
  env(repository: string): Record<string, string> {
    return {
      NFR_S3_REPOSITORY: repository,
      AWS_ENDPOINT_URL_S3: this.endpoint,
      AWS_ACCESS_KEY_ID: SWIFT_ACCESS_KEY,
      AWS_SECRET_ACCESS_KEY: SWIFT_SECRET_KEY,
      AWS_REGION: 'us-east-1',
    };
  }

  /** An S3 client of this store, for tests that look at or damage the bucket directly. */
  client(): S3Client {
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    return new S3Client({
      endpoint: this.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: SWIFT_ACCESS_KEY, secretAccessKey: SWIFT_SECRET_KEY },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async createBucket(name: string): Promise<void> {
    const client = this.client();
    try {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    } finally {
      client.destroy();
    }
  }

  async stop(): Promise<void> {
    await stopChild(this.proxy);
    await Promise.all(this.others.map((c) => stopChild(c)));
    rmSync(this.root, { recursive: true, force: true });
  }
}

function ringBuilder(args: string[]): void {
  const r = spawnSync('swift-ring-builder', args, { encoding: 'utf8' });
  // 0 is success, 1 a warning (e.g. a rebalance that moved nothing); 2 an error.
  if (r.error || (r.status !== 0 && r.status !== 1)) throw new Error(`swift-ring-builder ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout || r.error?.message}`);
}
