/**
 * The ceiling for the manager benchmark: the same Fastify, over the same
 * HTTPS certificate, answering one static JSON route with nothing behind it.
 * Run as its own process: `node --import tsx bench/lib/static-fastify.ts CERT KEY`;
 * prints `{"listening": "https://127.0.0.1:port"}`.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';

const [certFile, keyFile] = process.argv.slice(2);
if (!certFile || !keyFile) throw new Error('usage: static-fastify.ts CERT KEY');
const app = Fastify({
  https: { cert: readFileSync(certFile), key: readFileSync(keyFile), minVersion: 'TLSv1.2' },
});
app.get('/static', async () => ({ items: [], next_cursor: null }));
await app.listen({ host: '127.0.0.1', port: 0 });
const { port } = app.server.address() as AddressInfo;
process.stdout.write(`${JSON.stringify({ listening: `https://127.0.0.1:${port}` })}\n`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
