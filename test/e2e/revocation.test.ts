import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { Agent, request } from 'undici';
import { type Role, TLS_FILES, type TlsMaterial, writeTlsDir } from '../../src/core/tls.js';
import { TrustState } from '../../src/core/trust.js';
import { ParentClient } from '../../src/peer/download/parent-client.js';
import { HostSchema } from '../../src/protocol/gen/scheduler_pb.js';
import { createSchedulerClient } from '../../src/protocol/scheduler-client.js';
import { createToken, rootSession } from '../helpers/auth.js';
import { startTestManager, type TestManager } from '../helpers/manager.js';
import { kill, killAll, spawnWarren, waitForJsonLine } from '../helpers/processes.js';
import { cleanupTempDirs, tempDir } from '../helpers/tmp.js';
import { metric } from './cluster.js';

/*
 * What must be shown: an expired or revoked certificate is refused by the
 * scheduler and by peers; components renew their own certificates. The
 * scheduler and peers run as processes with `--manager`, so the revocation
 * list reaches them through their Sync with the manager, as in production.
 */

const DAY = 86_400_000;
const NO_TASK = 'a'.repeat(64);

/** Polls `check` until it returns true; fails with `what` after `ms`. */
async function until(what: string, check: () => Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await sleep(100);
  }
}

/** StatTask on an unknown task: NotFound means the scheduler took the certificate. */
async function schedulerAnswer(address: string, tls: TlsMaterial): Promise<'accepted' | 'refused'> {
  const client = createSchedulerClient({ address, tls });
  try {
    await client.statTask({ taskId: NO_TASK }, { timeoutMs: 5_000 });
    return 'accepted';
  } catch (err) {
    return ConnectError.from(err).code === Code.NotFound ? 'accepted' : 'refused';
  } finally {
    client.close();
  }
}

/** GET of an unknown task on an upload server: 404 TASK_NOT_FOUND means the certificate was taken. */
async function uploadAnswer(address: string, agent: Agent): Promise<'accepted' | 'refused'> {
  try {
    const res = await request(`https://${address}/tasks/${NO_TASK}`, { dispatcher: agent });
    const body = (await res.body.json()) as { error?: { code?: string } };
    return res.statusCode === 404 && body.error?.code === 'TASK_NOT_FOUND' ? 'accepted' : 'refused';
  } catch {
    return 'refused';
  }
}

function agentFor(tls: TlsMaterial): Agent {
  return new Agent({ connect: { ca: tls.ca, cert: tls.cert, key: tls.key, timeout: 5_000 } });
}

describe('revocation, expiry and renewal of component certificates', () => {
  let m: TestManager;
  let dir: string;
  let clusterToken: string;

  before(async () => {
    dir = tempDir('warren-revocation-');
    m = await startTestManager({
      flags: {
        // Components sync often and the manager reloads its lists often, so a
        // revocation arrives within a second; renewed certificates live 9 s.
        'keepalive.interval': '600ms',
        'cache.refresh': '300ms',
        'certificates.lifetime': '9s',
      },
    });
    const root = await rootSession(m);
    clusterToken = (await createToken(m, root, ['cluster'])).token;
  });

  // Each test's components go with it, so later tests see only their own.
  afterEach(killAll);
  after(async () => {
    await killAll();
    await m?.stop();
    cleanupTempDirs();
  });

  /** A certificate recorded by the manager, written to its own tls dir. */
  async function issue(role: Role, name: string, lifetimeMs = DAY) {
    const material = await m.manager.ctx.ca.issue({ name, role, lifetimeMs });
    const tlsDir = join(dir, 'tls', name);
    writeTlsDir(tlsDir, material);
    return { ...material, tlsDir };
  }

  async function startScheduler(name: string, lifetimeMs = DAY, listen = '127.0.0.1:0') {
    const tls = await issue('scheduler', name, lifetimeMs);
    return spawnRole(
      ['scheduler', '--listen', listen, '--tls-dir', tls.tlsDir, '--ops-listen', '127.0.0.1:0'],
      tls,
    );
  }

  async function startPeer(name: string, lifetimeMs = DAY) {
    const tls = await issue('peer', name, lifetimeMs);
    const data = join(dir, 'peers', name);
    return spawnRole(
      [
        'peer',
        '--data',
        data,
        '--listen',
        '127.0.0.1:0',
        '--tls-dir',
        tls.tlsDir,
        '--ops-listen',
        '127.0.0.1:0',
      ],
      tls,
    );
  }

  async function spawnRole(args: string[], tls: Awaited<ReturnType<typeof issue>>) {
    const child = spawnWarren([...args, '--manager', m.rpc], { env: { WARREN_LOG_LEVEL: 'info' } });
    const line = await waitForJsonLine(child);
    return { process: child, address: line.listening, ops: line.ops ?? '', tls, args };
  }

  it('a revoked certificate is refused by the scheduler and by a peer, once their Sync brings the list', async () => {
    const scheduler = await startScheduler('scheduler-1');
    const peer = await startPeer('peer-b');
    const victim = await issue('peer', 'peer-a');
    const bystander = await issue('peer', 'peer-c');

    // Before: both are served; peer-a keeps a host stream open and a keep-alive connection.
    assert.equal(await schedulerAnswer(scheduler.address, victim), 'accepted');
    const victimAgent = agentFor(victim);
    assert.equal(await uploadAnswer(peer.address, victimAgent), 'accepted');
    const hostClient = createSchedulerClient({ address: scheduler.address, tls: victim });
    const host = create(HostSchema, { id: 'peer-a', hostname: 'a', ip: '127.0.0.1', uploadPort: 1 });
    let streamEnded = false;
    const stream = (async () => {
      try {
        for await (const _event of hostClient.announceHost({ host })) {
          // pings only
        }
      } catch {}
      streamEnded = true;
    })();
    await until('the host stream is registered', async () => {
      return (await metric(scheduler.ops, 'warren_scheduler_hosts_connected')) === 1;
    });

    // Revoke through the REST API; the manager hands the serial out on Sync.
    const revoke = await m.call('POST', `/api/v1/certificates/${victim.serial}/revoke`, {
      token: clusterToken,
    });
    assert.equal(revoke.status, 200, JSON.stringify(revoke.body));

    await until(
      'the scheduler cuts the open host stream of the revoked certificate',
      async () => streamEnded,
    );
    await stream;
    hostClient.close();
    await until(
      'the scheduler refuses new connections with the revoked certificate',
      async () => (await schedulerAnswer(scheduler.address, victim)) === 'refused',
    );
    await until(
      "the peer's upload server refuses the revoked certificate",
      async () => (await uploadAnswer(peer.address, victimAgent)) === 'refused',
    );
    // Refused for good, on fresh connections too; others are still served.
    const fresh = agentFor(victim);
    assert.equal(await uploadAnswer(peer.address, fresh), 'refused');
    assert.equal(await schedulerAnswer(scheduler.address, victim), 'refused');
    assert.equal(await schedulerAnswer(scheduler.address, bystander), 'accepted');
    const bystanderAgent = agentFor(bystander);
    assert.equal(await uploadAnswer(peer.address, bystanderAgent), 'accepted');
    assert.ok((await metric(scheduler.ops, 'warren_scheduler_refusals_total', { reason: 'revoked' })) >= 1);
    assert.ok((await metric(peer.ops, 'warren_upload_refused_total', { reason: 'revoked' })) >= 1);
    await Promise.all([victimAgent.close(), fresh.close(), bystanderAgent.close()]);

    // A downloading peer refuses a parent whose certificate is revoked (its
    // TrustState filled here as the Sync loop fills it).
    const trust = new TrustState();
    const parent = { hostId: 'peer-b', ip: '127.0.0.1', port: Number(peer.address.split(':').pop()) };
    const child = new ParentClient(parent, bystander, 1, trust);
    await assert.rejects(
      child.watch(NO_TASK, () => {}, AbortSignal.timeout(5_000)),
      (err: unknown) => (err as { code?: string }).code === 'PARENT_NO_TASK',
      'an unrevoked parent is reached',
    );
    await child.close();
    trust.update([peer.tls.serial], []);
    const wary = new ParentClient(parent, bystander, 1, trust);
    await assert.rejects(
      wary.watch(NO_TASK, () => {}, AbortSignal.timeout(5_000)),
      /revoked certificate/,
    );
    await wary.close();
  });

  it('an expired certificate is refused by the scheduler and by a peer at the TLS handshake', async () => {
    const scheduler = await startScheduler('scheduler-2');
    const peer = await startPeer('peer-d');
    const expired = await issue('peer', 'peer-expired', -1_000);
    assert.ok(Date.parse(new X509Certificate(expired.cert).validTo) < Date.now());
    const current = await issue('peer', 'peer-current');

    const tlsRefusals = await metric(scheduler.ops, 'warren_scheduler_refusals_total', { reason: 'tls' });
    assert.equal(await schedulerAnswer(scheduler.address, expired), 'refused');
    await until('the scheduler counts a TLS refusal', async () => {
      const now = await metric(scheduler.ops, 'warren_scheduler_refusals_total', { reason: 'tls' });
      return now > tlsRefusals;
    });
    const expiredAgent = agentFor(expired);
    assert.equal(await uploadAnswer(peer.address, expiredAgent), 'refused');
    await expiredAgent.close();
    // The same servers serve a current certificate.
    assert.equal(await schedulerAnswer(scheduler.address, current), 'accepted');
    const currentAgent = agentFor(current);
    assert.equal(await uploadAnswer(peer.address, currentAgent), 'accepted');
    await currentAgent.close();
  });

  it('a scheduler and a peer with 9-second certificates renew at two thirds by themselves and keep serving', async () => {
    const scheduler = await startScheduler('scheduler-r', 9_000);
    const schedulerPort = scheduler.address.split(':').pop()!;
    // The peer uses the scheduler (learnt from the manager's Sync) and renews too.
    const peer = await startPeer('peer-r', 9_000);
    const originals = [scheduler.tls, peer.tls].map((t) => new X509Certificate(t.cert));
    const prober = await issue('peer', 'peer-probe');

    // Each renews by itself: a new certificate on disk, same name and role, from our CA.
    const renewed = await Promise.all(
      [scheduler.tls.tlsDir, peer.tls.tlsDir].map(async (tlsDir, i) => {
        const original = originals[i]!;
        let current = original;
        await until(`${original.subject.split('\n')[0]} renews its certificate`, async () => {
          current = new X509Certificate(readFileSync(join(tlsDir, TLS_FILES.cert)));
          return current.serialNumber !== original.serialNumber;
        });
        assert.equal(current.subject, original.subject);
        assert.ok(current.verify(new X509Certificate(m.caPem).publicKey));
        assert.ok(Date.parse(current.validTo) > Date.parse(original.validTo));
        // At two thirds of its life, not at the end (X.509 times have one-second steps).
        const life = Date.parse(original.validTo) - Date.parse(original.validFrom);
        const renewedAt = Date.parse(current.validFrom) + Math.min(60_000, 9_000 / 10);
        assert.ok(renewedAt < Date.parse(original.validTo), 'renewed before the old one expired');
        assert.ok(renewedAt > Date.parse(original.validFrom) + life / 2 - 2_000, 'not renewed too early');
        return current;
      }),
    );
    for (const cert of renewed) {
      const row = await m.manager.ctx.ca.certificate(cert.serialNumber);
      assert.ok(row, 'the manager recorded the renewed certificate');
    }

    // Past the original certificates' expiry, both still serve: new connections
    // get the renewed certificate (an expired one would fail the handshake).
    const lastExpiry = Math.max(...originals.map((c) => Date.parse(c.validTo)));
    await sleep(Math.max(0, lastExpiry - Date.now() + 1_500));
    assert.equal(await schedulerAnswer(scheduler.address, prober), 'accepted');
    const agent = agentFor(prober);
    assert.equal(await uploadAnswer(peer.address, agent), 'accepted');
    await agent.close();

    // The peer's own new connections use its renewed certificate: restart the
    // scheduler (from its renewed files) on the same port, and the peer's host
    // stream comes back.
    await until('the peer has its host stream up', async () => {
      return (await metric(scheduler.ops, 'warren_scheduler_hosts_connected')) >= 1;
    });
    await kill(scheduler.process, 'SIGTERM');
    const again = spawnWarren(
      [
        'scheduler',
        '--listen',
        `127.0.0.1:${schedulerPort}`,
        '--tls-dir',
        scheduler.tls.tlsDir,
        '--ops-listen',
        '127.0.0.1:0',
        '--manager',
        m.rpc,
      ],
      { env: { WARREN_LOG_LEVEL: 'info' } },
    );
    const line = await waitForJsonLine(again);
    await until(
      'the peer reconnects to the restarted scheduler with its renewed certificate',
      async () => (await metric(line.ops ?? '', 'warren_scheduler_hosts_connected')) >= 1,
      30_000,
    );
    const audits = await m.manager.ctx.db
      .selectFrom('audit_log')
      .select('actor')
      .where('action', '=', 'certificate.renew')
      .execute();
    const actors = new Set(audits.map((a) => a.actor));
    assert.ok(actors.has('scheduler:scheduler-r') && actors.has('peer:peer-r'), [...actors].join(', '));
  });
});
