import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { RegistryAuth, type RegistryCredentials } from '../../core/oci/registry-auth.js';
import { RegistryClient } from '../../core/oci/registry-client.js';
import { HttpSource } from './http-source.js';

/*
 * The back-to-source fetcher against a registry that wants a token: real
 * HTTP servers on loopback play the registry (Bearer challenge), its token
 * service (Basic account → token, as docker/distribution's token auth) and
 * the storage a registry redirects blobs to.
 */
const BLOB = '/v2/team/app/blobs/sha256:0123';
const SECRET = 's3cret-pa55word';

interface Seen {
  path: string;
  authorization?: string;
}

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
    handler(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, seen, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('registry authentication for back-to-source fetches', () => {
  let tokens: Awaited<ReturnType<typeof serve>>;
  let storage: Awaited<ReturnType<typeof serve>>;
  let registry: Awaited<ReturnType<typeof serve>>;
  let accounts: Map<string, RegistryCredentials>;
  const dispatcher = new Agent();

  before(async () => {
    tokens = await serve((req, res) => {
      const url = new URL(req.url ?? '/', 'http://t');
      const expected = `Basic ${Buffer.from(`puller:${SECRET}`).toString('base64')}`;
      const anonymous = req.headers.authorization === undefined;
      if (!anonymous && req.headers.authorization !== expected) {
        res.writeHead(401).end('{"details":"bad account"}');
        return;
      }
      const token = `${anonymous ? 'anon' : 'user'}-token-for-${url.searchParams.get('scope')}`;
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ token, expires_in: 300 }));
    });
    storage = await serve((_req, res) => res.writeHead(200, { 'content-length': 4 }).end('blob'));
    registry = await serve((req, res) => {
      const wanted = /^Bearer (anon|user)-token-for-repository:team\/app:pull$/;
      if (!wanted.test(req.headers.authorization ?? '')) {
        res.writeHead(401, {
          'www-authenticate': `Bearer realm="${tokens.url}/token",service="test-registry",scope="repository:team/app:pull"`,
        });
        res.end();
        return;
      }
      if (req.url === `${BLOB}-redirect`) {
        res.writeHead(307, { location: `${storage.url}/storage/blob?signature=x` }).end();
        return;
      }
      res.writeHead(200, { 'content-length': 4 }).end('blob');
    });
  });

  after(async () => {
    for (const s of [tokens, storage, registry]) s.server.close();
    await dispatcher.close();
  });

  const source = (credentials: RegistryCredentials | undefined) => {
    accounts = new Map(credentials ? [[new URL(registry.url).host, credentials]] : []);
    const auth = new RegistryAuth({ dispatcher, credentials: (host) => accounts.get(host) });
    return {
      auth,
      source: new HttpSource({
        rateLimit: 0,
        connectTimeout: 5_000,
        bodyTimeout: 5_000,
        authFor: (url) => (url.origin === registry.url ? auth : undefined),
      }),
    };
  };

  const read = async (src: HttpSource, path: string) => {
    const res = await src.open(`${registry.url}${path}`, {});
    const chunks: Buffer[] = [];
    for await (const chunk of res.body) chunks.push(chunk);
    return Buffer.concat(chunks).toString();
  };

  test('401 → challenge → token from the realm with the account → retry; the token is cached', async () => {
    const { source: src } = source({ username: 'puller', password: SECRET });
    tokens.seen.length = 0;
    assert.equal(await read(src, BLOB), 'blob');
    assert.equal(await read(src, BLOB), 'blob');
    assert.equal(tokens.seen.length, 1, 'one token for both fetches');
    assert.match(tokens.seen[0]!.path, /service=test-registry/);
    assert.match(tokens.seen[0]!.path, /scope=repository%3Ateam%2Fapp%3Apull/);
    assert.match(tokens.seen[0]!.authorization ?? '', /^Basic /, 'the account went to the realm');
    assert.equal(registry.seen.at(-1)!.authorization, 'Bearer user-token-for-repository:team/app:pull');
    await src.close();
  });

  test('without an account: an anonymous token', async () => {
    const { source: src } = source(undefined);
    tokens.seen.length = 0;
    assert.equal(await read(src, BLOB), 'blob');
    assert.equal(tokens.seen[0]!.authorization, undefined);
    await src.close();
  });

  test("a registry's redirect to its storage does not carry the Authorization header there", async () => {
    const { source: src } = source({ username: 'puller', password: SECRET });
    storage.seen.length = 0;
    assert.equal(await read(src, `${BLOB}-redirect`), 'blob');
    assert.equal(storage.seen.length, 1);
    assert.equal(storage.seen[0]!.authorization, undefined, 'no token or password sent to another host');
    await src.close();
  });

  test('a refused account is a clear error that holds no secret', async () => {
    const { source: src } = source({ username: 'puller', password: 'wrong-password' });
    await assert.rejects(read(src, BLOB), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'REGISTRY_UNAUTHORIZED');
      assert.match(err.message, /token service .* answered HTTP 401 .*account 'puller'/);
      assert.ok(!err.message.includes('wrong-password'));
      assert.ok(!err.message.includes(Buffer.from('puller:wrong-password').toString('base64')));
      return true;
    });
    await src.close();
  });

  test('the registry client (manifests) uses the same flow', async () => {
    const { auth } = source({ username: 'puller', password: SECRET });
    const client = new RegistryClient(dispatcher, auth);
    const answer = await client.request(`${registry.url}${BLOB}`, { method: 'GET', maxBytes: 1024 });
    assert.equal(answer.status, 200);
    assert.equal(answer.body.toString(), 'blob');
    await assert.rejects(
      client.request(`${registry.url}${BLOB}`, { method: 'GET', maxBytes: 2 }),
      /more than 2 bytes/,
      'bodies are bounded',
    );
  });
});
