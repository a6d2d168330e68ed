/** A webhook receiver on loopback for the alert tests: records every POST and answers `status`. */
import { createServer, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  readonly body: any;
  readonly raw: string;
  readonly headers: IncomingHttpHeaders;
}

export async function receiver(status = 200): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server: HttpServer = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString('utf8')));
    req.on('end', () => {
      received.push({ body: JSON.parse(raw), raw, headers: req.headers });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/nfr`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
