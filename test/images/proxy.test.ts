import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { stringify } from 'yaml';
import { PeerClient } from '../../src/cli/peer-client.js';
import { initCa, TLS_FILES } from '../../src/core/tls.js';
import type { TaskStatus } from '../../src/peer/api/local-api.js';
import { Cluster, type PeerProcess } from '../e2e/cluster.js';
import { curl } from '../helpers/curl.js';
import { makeRandomFile, sha256File } from '../helpers/files.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { killAll, stdoutLinesOf } from '../helpers/processes.js';
import { requireCommand } from '../helpers/skip.js';
import { makeTestCa } from '../helpers/tls.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';

const MIB = 1024 * 1024;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** An origin that answers with its own status and header, and shows what it received. */
interface EchoOrigin {
  url(path: string): string;
  seen: { method: string; path: string; headers: IncomingHttpHeaders; bodySha256: string }[];
  close(): Promise<void>;
}

async function startEchoOrigin(staticBody: Buffer): Promise<EchoOrigin> {
  const seen: EchoOrigin['seen'] = [];
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const entry = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      bodySha256: sha256(Buffer.concat(chunks)),
    };
    seen.push(entry);
    if (req.url === '/static.bin') {
      res.writeHead(203, 'Non-Authoritative Information', {
        'X-Origin-Custom': 'kept-as-is-42',
        'Content-Type': 'application/x-test',
        'Content-Length': staticBody.length,
      });
      res.end(req.method === 'HEAD' ? undefined : staticBody);
      return;
    }
    res.writeHead(201, { 'Content-Type': 'application/json', 'X-Origin-Custom': 'echo' });
    res.end(JSON.stringify(entry));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url: (path) => base + path,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A peer with its proxy's address, read from the line it prints once it listens. */
interface ProxyPeer extends PeerProcess {
  proxy: string;
}

async function tasksOf(peer: PeerProcess): Promise<TaskStatus[]> {
  const client = new PeerClient(peer.socket);
  try {
    return (await client.json<{ tasks: TaskStatus[] }>('GET', '/v1/tasks')).tasks;
  } finally {
    await client.close();
  }
}

const proxyOf = (peer: ProxyPeer) => `http://${peer.proxy}`;

/*
 * Issue 4, item 5: the peer as an HTTP proxy, driven by the real curl. A GET
 * whose URL matches a rule goes through P2P (a task on the peer, the origin
 * read once for the whole fleet); everything else passes through untouched;
 * CONNECT is a blind tunnel unless the operator lists the host for
 * interception with their own CA.
 */
describe('proxy mode', { skip: requireCommand('curl') }, () => {
  let dir: string;
  let origin: Origin;
  let httpsOrigin: Origin;
  let untrustedOrigin: Origin;
  let echo: EchoOrigin;
  let staticBody: Buffer;
  let cluster: Cluster;
  let interceptCa: string;
  let originCa: string;
  let first: ProxyPeer;
  let second: ProxyPeer;
  let closed: ProxyPeer;

  async function startProxyPeer(
    name: string,
    settings: Record<string, unknown>,
    scheduler = true,
  ): Promise<ProxyPeer> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, stringify({ proxy: settings, source: { caFile: originCa } }));
    const peer = await cluster.startPeer(name, { args: ['--config', file], scheduler });
    const line = stdoutLinesOf(peer.process).find((l) => l.startsWith('{"listening"'));
    const proxy = (JSON.parse(line ?? '{}') as { proxy?: string }).proxy;
    assert.ok(proxy, `${name} printed its proxy address`);
    return { ...peer, proxy };
  }

  before(async () => {
    dir = tempDir('warren-proxy-');
    const www = join(dir, 'www');
    await mkdir(join(www, 'p2p'), { recursive: true });
    await makeRandomFile(join(www, 'p2p', 'big.bin'), 12 * MIB);
    await makeRandomFile(join(www, 'p2p', 'digest.bin'), 6 * MIB);
    await makeRandomFile(join(www, 'plain.bin'), 2 * MIB);
    origin = await startOrigin({ dir: www });
    // An HTTPS origin with a certificate from a CA the peers trust (source.caFile)…
    const originCas = await makeTestCa(join(dir, 'origin-ca'));
    originCa = join(originCas.caDir, TLS_FILES.ca);
    httpsOrigin = await startOrigin({ dir: www, https: (await originCas.issue('peer', 'origin')).material });
    // …and one whose CA nobody trusts: interception must not make it trusted.
    const strangers = await makeTestCa(join(dir, 'stranger-ca'));
    untrustedOrigin = await startOrigin({
      dir: www,
      https: (await strangers.issue('peer', 'stranger')).material,
    });
    staticBody = randomBytes(300 * 1024);
    echo = await startEchoOrigin(staticBody);
    // The operator's interception CA: its own, not Warren's mTLS CA; key 0600.
    const interceptDir = join(dir, 'intercept-ca');
    await initCa(interceptDir, { name: 'Proxy interception CA' });
    interceptCa = join(interceptDir, TLS_FILES.ca);

    cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    const rules = [{ regex: '/private/', useP2P: false }, { regex: '/p2p/' }];
    first = await startProxyPeer('peer-1', {
      listen: '127.0.0.1:0',
      rules,
      connectPorts: [],
      intercept: {
        hosts: ['127.0.0.1'],
        caCertFile: interceptCa,
        caKeyFile: join(interceptDir, TLS_FILES.caKey),
      },
    });
    second = await startProxyPeer('peer-2', {
      listen: '127.0.0.1:0',
      rules,
      connectPorts: [],
      maxConnections: 4,
    });
    // Open only to a network the test's client is not in.
    closed = await startProxyPeer(
      'peer-closed',
      { listen: '127.0.0.1:0', rules, allow: ['192.0.2.0/24'] },
      false,
    );
  });

  after(async () => {
    await killAll();
    await Promise.all([origin?.close(), httpsOrigin?.close(), untrustedOrigin?.close(), echo?.close()]);
    cleanupTempDirs();
  });

  it('a GET matching a rule goes through P2P: the task is on the peer, and a second peer gets it from the first, not the origin', async () => {
    const url = origin.url('p2p/big.bin');
    const expected = await sha256File(join(dir, 'www', 'p2p', 'big.bin'));
    const one = await curl(dir, ['-x', proxyOf(first), url]);
    assert.equal(one.exitCode, 0, one.stderr);
    assert.equal(one.status, 200);
    assert.equal(sha256(one.body), expected);
    const taskId = one.headers['x-warren-task-id'];
    assert.match(taskId ?? '', /^[0-9a-f]{64}$/);
    const task = (await tasksOf(first)).find((t) => t.taskId === taskId);
    assert.equal(task?.url, url, "the peer's task list shows the download");
    assert.equal(task?.piecesHeld, task?.pieceCount);
    const fromOrigin = origin.bytesSent('p2p/big.bin');
    assert.equal(fromOrigin, 12 * MIB, 'the origin sent the file once');

    const two = await curl(dir, ['-x', proxyOf(second), url]);
    assert.equal(two.exitCode, 0, two.stderr);
    assert.equal(sha256(two.body), expected);
    assert.equal(two.headers['x-warren-task-id'], taskId);
    assert.equal(origin.bytesSent('p2p/big.bin'), fromOrigin, 'the second peer read nothing from the origin');
    const secondTask = (await tasksOf(second)).find((t) => t.taskId === taskId);
    assert.ok((secondTask?.stats?.piecesFromParents ?? 0) > 0, 'its pieces came from the first peer');
  });

  it('serves a single byte range of a P2P task, and control headers make separate tasks and never reach the origin', async () => {
    const url = origin.url('p2p/big.bin');
    const whole = await curl(dir, ['-x', proxyOf(first), url]);
    const part = await curl(dir, ['-x', proxyOf(first), '-r', '1000-1999', url]);
    assert.equal(part.status, 206);
    assert.deepEqual(part.body, whole.body.subarray(1000, 2000));

    origin.reset();
    const tagged = await curl(dir, ['-x', proxyOf(first), '-H', 'X-Warren-Tag: other', url]);
    assert.equal(tagged.exitCode, 0, tagged.stderr);
    assert.notEqual(tagged.headers['x-warren-task-id'], whole.headers['x-warren-task-id']);
    assert.ok(origin.requests('p2p/big.bin') > 0, 'a new tag is a new task, fetched again');
    for (const request of origin.log('p2p/big.bin')) {
      assert.equal(request.headers['x-warren-tag'], undefined, 'control headers never go upstream');
    }
  });

  it('a URL no rule matches passes straight through, untouched: status, headers and bytes as a direct fetch, no task', async () => {
    const before = (await tasksOf(first)).length;
    const direct = await curl(dir, [echo.url('/static.bin')]);
    const proxied = await curl(dir, ['-x', proxyOf(first), echo.url('/static.bin')]);
    assert.equal(direct.status, 203);
    assert.equal(proxied.status, direct.status);
    assert.equal(proxied.headers['x-origin-custom'], 'kept-as-is-42');
    assert.equal(proxied.headers['content-type'], direct.headers['content-type']);
    assert.deepEqual(proxied.body, staticBody);
    assert.equal(echo.seen.filter((s) => s.path === '/static.bin').length, 2, 'the origin saw both requests');

    // Other methods and their bodies stream through too; hop-by-hop and control headers do not.
    const payload = randomBytes(64 * 1024);
    await writeFile(join(dir, 'payload.bin'), payload);
    const posted = await curl(dir, [
      '-x',
      proxyOf(first),
      '--data-binary',
      `@${join(dir, 'payload.bin')}`,
      '-H',
      'X-Warren-Tag: t',
      '-H',
      'Connection: X-Hop',
      '-H',
      'X-Hop: secret',
      '-H',
      'X-End-To-End: yes',
      echo.url('/p2p/post'),
    ]);
    assert.equal(posted.status, 201, 'a POST to a matching URL is not a P2P download');
    const seen = JSON.parse(posted.body.toString()) as EchoOrigin['seen'][number];
    assert.equal(seen.method, 'POST');
    assert.equal(seen.bodySha256, sha256(payload));
    assert.equal(seen.headers['x-end-to-end'], 'yes');
    assert.equal(seen.headers['x-warren-tag'], undefined);
    assert.equal(seen.headers['x-hop'], undefined);
    assert.equal(seen.headers['proxy-connection'], undefined);

    // A matching URL under an exclusion rule, and X-Warren-Use-P2P: false, go straight through.
    origin.reset();
    const excluded = await curl(dir, ['-x', proxyOf(first), origin.url('p2p/private/none')]);
    assert.equal(excluded.status, 404, "the origin's own answer");
    const forced = await curl(dir, [
      '-x',
      proxyOf(first),
      '-H',
      'X-Warren-Use-P2P: false',
      origin.url('plain.bin'),
    ]);
    assert.equal(forced.status, 200);
    const viaRule = await curl(dir, [
      '-x',
      proxyOf(first),
      '-H',
      'X-Warren-Use-P2P: false',
      origin.url('p2p/big.bin'),
    ]);
    assert.equal(sha256(viaRule.body), await sha256File(join(dir, 'www', 'p2p', 'big.bin')));
    assert.equal(viaRule.headers['x-warren-task-id'], undefined);
    assert.equal(origin.requests('p2p/big.bin'), 1, 'the origin served it itself');
    assert.equal((await tasksOf(first)).length, before, 'no task was created by any of these');
  });

  it('CONNECT is a blind tunnel by default: HTTPS works end to end, the peer sees no URL and makes no task', async () => {
    const before = (await tasksOf(second)).length;
    httpsOrigin.reset();
    const url = httpsOrigin.url('p2p/big.bin');
    const result = await curl(dir, ['-x', proxyOf(second), '--cacert', originCa, url]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(sha256(result.body), await sha256File(join(dir, 'www', 'p2p', 'big.bin')));
    assert.equal(result.headers['x-warren-task-id'], undefined);
    assert.equal(httpsOrigin.requests('p2p/big.bin'), 1, 'the origin served it through the tunnel');
    assert.equal((await tasksOf(second)).length, before);
  });

  it('with interception and the operator CA, a matching https URL goes through P2P; the real origin is still verified', async () => {
    const url = httpsOrigin.url('p2p/big.bin');
    // Trusting only the interception CA: the certificate curl sees is one the peer minted.
    const result = await curl(dir, ['-x', proxyOf(first), '--cacert', interceptCa, url]);
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(sha256(result.body), await sha256File(join(dir, 'www', 'p2p', 'big.bin')));
    const taskId = result.headers['x-warren-task-id'];
    assert.equal((await tasksOf(first)).find((t) => t.taskId === taskId)?.url, url);

    const plain = await curl(dir, [
      '-x',
      proxyOf(first),
      '--cacert',
      interceptCa,
      httpsOrigin.url('plain.bin'),
    ]);
    assert.equal(plain.status, 200, 'a non-matching https URL passes through the opened tunnel');
    assert.equal(plain.headers['x-warren-task-id'], undefined);

    const before = untrustedOrigin.requests();
    const stranger = await curl(dir, [
      '-x',
      proxyOf(first),
      '--cacert',
      interceptCa,
      untrustedOrigin.url('plain.bin'),
    ]);
    assert.equal(stranger.status, 502, 'an origin whose certificate the peer cannot verify is refused');
    assert.match(stranger.headers['x-warren-error'] ?? '', /UPSTREAM_FAILED/);
    assert.equal(untrustedOrigin.requests(), before, 'no request reached it');

    const withoutCa = await curl(dir, ['-x', proxyOf(first), '--cacert', originCa, url]);
    assert.notEqual(
      withoutCa.exitCode,
      0,
      'a client that does not trust the interception CA refuses the tunnel',
    );
  });

  it('X-Warren-Digest: the right digest names the task; a wrong one fails the request and keeps nothing', async () => {
    const url = origin.url('p2p/digest.bin');
    const hex = await sha256File(join(dir, 'www', 'p2p', 'digest.bin'));
    const wrong = `sha256:${'0'.repeat(64)}`;
    const bad = await curl(dir, ['-x', proxyOf(first), '-H', `X-Warren-Digest: ${wrong}`, url]);
    // The last piece is held back until the whole content matched: the client
    // gets a cut connection (curl exit 18), never a complete wrong body.
    assert.equal(bad.exitCode, 18, bad.stderr);
    assert.ok(bad.body.length < 6 * MIB);
    const tasks = await tasksOf(first);
    assert.equal(
      tasks.find((t) => t.taskId === '0'.repeat(64)),
      undefined,
      'content that did not match its digest is not kept',
    );
    const good = await curl(dir, ['-x', proxyOf(first), '-H', `X-Warren-Digest: sha256:${hex}`, url]);
    assert.equal(good.exitCode, 0, good.stderr);
    assert.equal(sha256(good.body), hex);
    assert.equal(good.headers['x-warren-task-id'], hex, 'a content-addressed task: its ID is the digest');
    const malformed = await curl(dir, ['-x', proxyOf(first), '-H', 'X-Warren-Digest: md5:abc', url]);
    assert.equal(malformed.status, 400);
    origin.reset();
    const unchecked = await curl(dir, [
      '-x',
      proxyOf(first),
      '-H',
      `X-Warren-Digest: sha256:${hex}`,
      origin.url('plain.bin'),
    ]);
    assert.equal(unchecked.status, 400, 'a digest on a URL that would pass straight through is refused');
    assert.equal(unchecked.headers['x-warren-error'], 'DIGEST_NEEDS_P2P');
    assert.equal(origin.requests(), 0, 'and nothing was fetched unverified');
  });

  it('refuses a client outside proxy.allow before reading its request, and connections beyond the limit', async () => {
    origin.reset();
    const refused = await curl(dir, ['-x', proxyOf(closed), origin.url('p2p/big.bin')]);
    assert.equal(refused.status, 403);
    assert.equal(origin.requests(), 0, 'nothing reached the origin');
    assert.deepEqual(await tasksOf(closed), [], 'and the peer stored nothing');

    // peer-2 takes 4 connections at once: the fifth is answered 503.
    const held: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) {
        const socket = connect(Number(proxyOf(second).split(':').pop()), '127.0.0.1');
        await once(socket, 'connect');
        held.push(socket);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      const busy = await curl(dir, ['-x', proxyOf(second), origin.url('plain.bin')]);
      assert.equal(busy.status, 503);
    } finally {
      for (const socket of held) socket.destroy();
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await curl(dir, ['-x', proxyOf(second), origin.url('plain.bin')]);
    assert.equal(again.status, 200, 'once they close, clients are served again');
  });
});
