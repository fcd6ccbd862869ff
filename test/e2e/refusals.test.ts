import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Code, type ConnectError } from '@connectrpc/connect';
import { Agent, request } from 'undici';
import { createSchedulerClient } from '../../src/protocol/scheduler-client.js';
import { makeRandomFile } from '../helpers/files.js';
import { type Origin, startOrigin } from '../helpers/origin.js';
import { killAll } from '../helpers/processes.js';
import { lookupUser, requireRoot, requireUser } from '../helpers/skip.js';
import { makeTestCa } from '../helpers/tls.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { Cluster, type PeerProcess } from './cluster.js';

const MIB = 1024 * 1024;

/* What must be shown 4: refusals. */
describe('refusals', () => {
  let dir: string;
  let origin: Origin;
  let cluster: Cluster;
  let peer: PeerProcess;
  let strangerTls: Awaited<ReturnType<Awaited<ReturnType<typeof makeTestCa>>['issue']>>;

  before(async () => {
    dir = tempDir('warren-refuse-');
    await mkdir(join(dir, 'www'), { recursive: true });
    await mkdir(join(dir, 'out'), { recursive: true });
    await makeRandomFile(join(dir, 'www', 'file.bin'), 8 * MIB);
    origin = await startOrigin({ dir: join(dir, 'www') });
    cluster = await new Cluster(dir).init();
    await cluster.startScheduler();
    // The socket sits in a folder everyone may enter, so only its own mode protects it.
    const open = join(dir, 'public');
    await mkdir(open, { recursive: true });
    await chmod(dir, 0o755);
    await chmod(open, 0o755);
    peer = await cluster.startPeer('peer-1', { args: ['--socket', join(open, 'peer.sock')] });
    const stranger = await makeTestCa(join(dir, 'stranger'));
    strangerTls = await stranger.issue('peer', 'peer-1');
  });

  after(async () => {
    await killAll();
    await origin?.close();
    cleanupTempDirs();
  });

  it('the scheduler refuses a client with a certificate from another CA, or with none', async () => {
    const address = cluster.scheduler!.address;
    const taskId = 'a'.repeat(64);
    // A member of the CA is served: the scheduler answers "not found" for an unknown task.
    const member = await cluster.ca.issue('peer', 'member');
    const ok = createSchedulerClient({ address, tls: member.material });
    await assert.rejects(ok.statTask({ taskId }), (err: ConnectError) => err.code === Code.NotFound);
    // Others never get that far: the TLS handshake fails, so no RPC answer at all.
    const refusedBeforeRpc = (err: ConnectError) =>
      err.code !== Code.NotFound &&
      /handshake|certificate|socket|alert|ECONNRESET|unknown ca|closed/i.test(err.message);
    const foreign = createSchedulerClient({ address, tls: strangerTls.material });
    await assert.rejects(foreign.statTask({ taskId }), refusedBeforeRpc);
    const noCert = createSchedulerClient({ address, tls: { ca: cluster.ca.caPem, cert: '', key: '' } });
    await assert.rejects(noCert.statTask({ taskId }), refusedBeforeRpc);
  });

  it("a peer's upload server refuses clients without a certificate from the CA", async () => {
    const url = `https://${peer.upload}/tasks/${'a'.repeat(64)}/pieces`;
    const noCert = new Agent({ connect: { ca: cluster.ca.caPem } });
    await assert.rejects(request(url, { dispatcher: noCert }));
    const foreign = new Agent({
      connect: { ca: cluster.ca.caPem, cert: strangerTls.material.cert, key: strangerTls.material.key },
    });
    await assert.rejects(request(url, { dispatcher: foreign }));
    const member = await cluster.ca.issue('peer', 'member-2');
    const ok = new Agent({
      connect: { ca: cluster.ca.caPem, cert: member.material.cert, key: member.material.key },
    });
    const res = await request(url, { dispatcher: ok });
    assert.equal(res.statusCode, 404, 'a member reaches the server (the task is unknown)');
    await res.body.text();
    const client = await cluster.ca.issue('client', 'a-client');
    const wrongRole = new Agent({
      connect: { ca: cluster.ca.caPem, cert: client.material.cert, key: client.material.key },
    });
    const refused = await request(url, { dispatcher: wrongRole });
    assert.equal(refused.statusCode, 403, 'only peer and seed certificates may fetch pieces');
    await refused.body.text();
  });

  it("another system user cannot open the peer's socket", {
    skip: requireRoot() ?? requireUser('nobody'),
  }, async () => {
    assert.equal((await stat(peer.socket)).mode & 0o777, 0o600);
    const nobody = lookupUser('nobody')!;
    const script = `require('node:net').connect(${JSON.stringify(peer.socket)})
      .on('connect', () => { console.log('CONNECTED'); process.exit(0); })
      .on('error', (e) => { console.log(e.code); process.exit(0); });`;
    const child = spawn(process.execPath, ['-e', script], { uid: nobody.uid, gid: nobody.gid });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(out.trim(), 'EACCES');
  });

  it('a wrong --digest fails cleanly and leaves no file', async () => {
    const out = join(dir, 'out', 'digest.bin');
    const wrong = `sha256:${'0'.repeat(64)}`;
    const result = await cluster.get(peer, origin.url('file.bin'), out, ['--digest', wrong]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /DIGEST_MISMATCH/);
    assert.match(result.stderr, /expected sha256:0{64}/);
    assert.deepEqual(await readdir(join(dir, 'out')), [], 'neither the output nor a partial file is left');
    const malformed = await cluster.get(peer, origin.url('file.bin'), out, ['--digest', 'md5:abc']);
    assert.notEqual(malformed.code, 0);
    assert.match(malformed.stderr, /BAD_DIGEST_FORMAT/);
  });
});
