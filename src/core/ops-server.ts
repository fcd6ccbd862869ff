import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

/**
 * Prometheus `/metrics`, `/healthz` (the process is alive) and `/readyz` (it
 * can do its job) on a separate plain-HTTP port, loopback by default: these are
 * deliberately public to whoever can reach that port, and carry no secrets.
 */
export interface OpsServer {
  server: Server;
  port: number;
  close(): Promise<void>;
}

export function newRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry });
  return registry;
}

export async function startOpsServer(options: {
  host: string;
  port: number;
  registry: Registry;
  ready?: () => boolean;
}): Promise<OpsServer> {
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (req.url === '/readyz') {
      const ok = options.ready?.() ?? true;
      res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ready\n' : 'not ready\n');
    } else if (req.url === '/metrics') {
      const body = await options.registry.metrics();
      res.writeHead(200, { 'content-type': options.registry.contentType }).end(body);
    } else {
      res.writeHead(404).end();
    }
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
