import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isWarrenError } from '../../core/errors.js';
import { checkCompose } from '../../core/release/compose.js';
import { parseManifest } from '../../core/release/manifest.js';
import type { ValidatedRelease } from '../../core/release/types.js';
import { dependencyOrder } from './order.js';
import { CAP_ADD, clamp, configHash, planSandbox, SANDBOX_LABELS } from './plan.js';
import { type AppDeployment, type SandboxCaps, WARREN_LABELS } from './types.js';

const MIB = 1024 * 1024;
const CAPS: SandboxCaps = { memoryBytes: 512 * MIB, cpus: 2, pids: 512 };
const INSTANCE = '1a2b3c4d-5e6f-7a8b-9c0d-112233445566';
const IMAGE = `sha256:${'ab'.repeat(32)}`;

function release(compose: unknown, manifest: Record<string, unknown> = {}): ValidatedRelease {
  const parsed = parseManifest({
    id: 'notes',
    name: 'Notes',
    version: '1.2.0',
    maintainer: 'Jane',
    description: 'Notes.',
    main_service: 'web',
    internal_port: 8080,
    url_path: '/',
    health_check_path: '/healthz',
    ...manifest,
  });
  return {
    manifest: parsed,
    composeYaml: '',
    compose: checkCompose(compose, parsed.mainService),
    sha256: '0'.repeat(64),
    zipBytes: 1,
  };
}

function deployment(compose: unknown, manifest?: Record<string, unknown>): AppDeployment {
  const r = release(compose, manifest);
  const services = Object.keys(r.compose['services'] as object);
  return { release: r, images: Object.fromEntries(services.map((s) => [s, IMAGE])) };
}

/** A compose file using every key the release allowlist accepts. */
const EVERY_KEY = {
  version: '3.8',
  services: {
    db: {
      image: 'postgres:16.2',
      environment: { POSTGRES_PASSWORD: 'example', EMPTY: null, PORT: 5432, DEBUG: false },
      volumes: ['pgdata:/var/lib/postgresql/data', '/scratch'],
      healthcheck: {
        test: ['CMD', 'pg_isready'],
        interval: '1m30s',
        timeout: '500ms',
        retries: 5,
        start_period: '1.5s',
        start_interval: '1s',
      },
      restart: 'on-failure:3',
      stop_signal: 'SIGINT',
      stop_grace_period: '1m',
      expose: ['5432', '6000-6002/udp'],
      user: 999,
      init: true,
    },
    web: {
      image: 'example/notes@sha256:' + 'cd'.repeat(32),
      command: 'serve --port "8080" --name \'my notes\' a\\ b',
      entrypoint: ['/entry.sh'],
      environment: ['MODE=prod', 'FROM_HOST'],
      working_dir: '/app',
      user: 'app:app',
      read_only: true,
      tmpfs: ['/tmp', '/run:size=16m,mode=1777,exec'],
      volumes: [
        {
          type: 'volume',
          source: 'uploads',
          target: '/app/uploads',
          read_only: true,
          volume: { nocopy: true },
        },
        { type: 'tmpfs', target: '/cache', tmpfs: { size: '8m', mode: 0o700 } },
        { type: 'volume', target: '/anon' },
      ],
      depends_on: { db: { condition: 'service_healthy', restart: true } },
      restart: 'always',
    },
    job: {
      image: 'example/job:1',
      depends_on: ['db'],
      healthcheck: { disable: true },
      restart: 'no',
    },
  },
  volumes: { pgdata: null, uploads: {} },
};

describe('planSandbox', () => {
  const plan = planSandbox(deployment(EVERY_KEY, { resources: { memory: '1g', cpus: 0.5 } }), CAPS, INSTANCE);
  const byService = new Map(plan.containers.map((c) => [c.service, c]));
  const web = byService.get('web')!.body;
  const db = byService.get('db')!.body;
  const job = byService.get('job')!.body;

  test('one bridge network per app, labelled, not internal', () => {
    assert.deepEqual(plan.network, {
      Name: 'warren-1a2b3c4d-notes',
      Driver: 'bridge',
      CheckDuplicate: true,
      Internal: false,
      Attachable: false,
      EnableIPv6: false,
      Labels: { [WARREN_LABELS.instance]: INSTANCE, [WARREN_LABELS.app]: 'notes' },
      Options: {
        'com.docker.network.bridge.enable_icc': 'true',
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
      },
    });
  });

  test('names: warren-<instance8>-<app>_<service>; start order follows depends_on', () => {
    assert.deepEqual(
      plan.containers.map((c) => c.name),
      ['warren-1a2b3c4d-notes_db', 'warren-1a2b3c4d-notes_web', 'warren-1a2b3c4d-notes_job'],
    );
    assert.deepEqual(byService.get('web')!.dependsOn, [{ service: 'db', condition: 'service_healthy' }]);
    assert.deepEqual(byService.get('job')!.dependsOn, [{ service: 'db', condition: 'service_started' }]);
    assert.equal(byService.get('web')!.main, true);
  });

  test('every container: the hardening rules', () => {
    for (const { body, name } of plan.containers) {
      const host = body.HostConfig;
      assert.deepEqual(host.CapDrop, ['ALL'], name);
      assert.deepEqual(host.CapAdd, [
        'CHOWN',
        'DAC_OVERRIDE',
        'FOWNER',
        'SETGID',
        'SETUID',
        'NET_BIND_SERVICE',
      ]);
      assert.deepEqual(host.SecurityOpt, ['no-new-privileges:true']);
      assert.equal(host.Privileged, false);
      assert.deepEqual(host.PortBindings, {});
      assert.equal(host.PublishAllPorts, false);
      assert.deepEqual(host.Devices, []);
      assert.deepEqual(host.Binds, []);
      assert.equal(host.IpcMode, 'private');
      assert.equal(host.CgroupnsMode, 'private');
      assert.equal(host.NetworkMode, 'warren-1a2b3c4d-notes');
      assert.deepEqual(Object.keys(body.NetworkingConfig.EndpointsConfig), ['warren-1a2b3c4d-notes']);
      assert.deepEqual(host.LogConfig, { Type: 'json-file', Config: { 'max-size': '10m', 'max-file': '3' } });
      assert.equal(body.Image, IMAGE, 'the loaded image id, not the compose reference');
      assert.equal(body.Tty, false);
      for (const mount of host.Mounts) assert.ok(['volume', 'tmpfs'].includes(mount.Type));
    }
  });

  test('limits: the request clamped to the caps, the cap where none is asked, no swap', () => {
    assert.equal(web.HostConfig.Memory, 512 * MIB, '1g asked, 512m cap');
    assert.equal(web.HostConfig.MemorySwap, 512 * MIB);
    assert.equal(web.HostConfig.NanoCpus, 500_000_000, '0.5 asked, 2 cap');
    assert.equal(web.HostConfig.PidsLimit, 512, 'nothing asked: the cap');
    assert.deepEqual(clamp({ memoryBytes: 64 * MIB, cpus: 4, pids: 10 }, CAPS), {
      memoryBytes: 64 * MIB,
      cpus: 2,
      pids: 10,
    });
    assert.deepEqual(clamp({}, CAPS), CAPS);
  });

  test('labels on every object; the main container carries its port', () => {
    assert.deepEqual(
      { ...web.Labels, [SANDBOX_LABELS.config]: 'x' },
      {
        [WARREN_LABELS.instance]: INSTANCE,
        [WARREN_LABELS.app]: 'notes',
        [WARREN_LABELS.version]: '1.2.0',
        [WARREN_LABELS.service]: 'web',
        [WARREN_LABELS.main]: '1',
        [SANDBOX_LABELS.port]: '8080',
        [SANDBOX_LABELS.services]: 'db,web,job',
        [SANDBOX_LABELS.dependsOn]: '[{"service":"db","condition":"service_healthy"}]',
        [SANDBOX_LABELS.config]: 'x',
      },
    );
    assert.equal(db.Labels[WARREN_LABELS.main], undefined);
    assert.equal(web.Labels[SANDBOX_LABELS.config], configHash(web));
    for (const volume of plan.volumes) assert.equal(volume.Labels[WARREN_LABELS.instance], INSTANCE);
  });

  test('named volumes only: compose volumes, and anonymous ones made named and labelled', () => {
    assert.deepEqual(
      plan.volumes.map((v) => [v.Name, v.Labels[SANDBOX_LABELS.volume]]),
      [
        ['warren-1a2b3c4d-notes_pgdata', 'pgdata'],
        ['warren-1a2b3c4d-notes_uploads', 'uploads'],
        [db.HostConfig.Mounts[1]!.Source, '_db:/scratch'],
        [web.HostConfig.Mounts[2]!.Source, '_web:/anon'],
      ],
    );
    assert.match(db.HostConfig.Mounts[1]!.Source!, /^warren-1a2b3c4d-notes__db\.[0-9a-f]{12}$/);
    assert.deepEqual(db.HostConfig.Mounts[0], {
      Type: 'volume',
      Source: 'warren-1a2b3c4d-notes_pgdata',
      Target: '/var/lib/postgresql/data',
      ReadOnly: false,
    });
    assert.deepEqual(web.HostConfig.Mounts[0], {
      Type: 'volume',
      Source: 'warren-1a2b3c4d-notes_uploads',
      Target: '/app/uploads',
      ReadOnly: true,
      VolumeOptions: { NoCopy: true },
    });
    assert.deepEqual(web.HostConfig.Mounts[1], {
      Type: 'tmpfs',
      Target: '/cache',
      TmpfsOptions: { SizeBytes: 8 * MIB, Mode: 0o700 },
    });
    assert.ok(plan.volumes.every((v) => v.Driver === 'local' && Object.keys(v.DriverOpts).length === 0));
  });

  test('tmpfs: sized within the memory limit; read-only root where the app asks', () => {
    assert.deepEqual(web.HostConfig.Tmpfs, {
      '/tmp': `size=${512 * MIB}`,
      '/run': `size=${16 * MIB},mode=1777,exec`,
    });
    assert.equal(web.HostConfig.ReadonlyRootfs, true);
    assert.equal(db.HostConfig.ReadonlyRootfs, false);
  });

  test('compose translated: command, entrypoint, env, user, dirs, ports, health, stop, restart, init', () => {
    assert.deepEqual(web.Cmd, ['serve', '--port', '8080', '--name', 'my notes', 'a b']);
    assert.deepEqual(web.Entrypoint, ['/entry.sh']);
    assert.deepEqual(web.Env, ['MODE=prod'], 'a variable without a value never takes the host’s');
    assert.deepEqual(db.Env, ['POSTGRES_PASSWORD=example', 'PORT=5432', 'DEBUG=false']);
    assert.equal(web.User, 'app:app');
    assert.equal(db.User, '999');
    assert.equal(web.WorkingDir, '/app');
    assert.deepEqual(web.ExposedPorts, { '8080/tcp': {} }, 'the main port is exposed, never published');
    assert.deepEqual(Object.keys(db.ExposedPorts), ['5432/tcp', '6000/udp', '6001/udp', '6002/udp']);
    assert.deepEqual(db.Healthcheck, {
      Test: ['CMD', 'pg_isready'],
      Interval: 90e9,
      Timeout: 500e6,
      StartPeriod: 1.5e9,
      Retries: 5,
    });
    assert.deepEqual(job.Healthcheck, { Test: ['NONE'] });
    assert.equal(db.StopSignal, 'SIGINT');
    assert.equal(db.StopTimeout, 60);
    assert.deepEqual(db.HostConfig.RestartPolicy, { Name: 'on-failure', MaximumRetryCount: 3 });
    assert.deepEqual(web.HostConfig.RestartPolicy, { Name: 'always', MaximumRetryCount: 0 });
    assert.deepEqual(job.HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
    assert.equal(db.HostConfig.Init, true);
    assert.equal(web.HostConfig.Init, false);
    assert.equal(job.Cmd, undefined, "no command: the image's");
  });

  test('defaults: restart unless-stopped, log rotation options', () => {
    const p = planSandbox(deployment({ services: { web: { image: 'a/b:1' } } }), CAPS, INSTANCE, {
      logMaxSize: '1m',
      logMaxFiles: 2,
    });
    const body = p.containers[0]!.body;
    assert.deepEqual(body.HostConfig.RestartPolicy, { Name: 'unless-stopped', MaximumRetryCount: 0 });
    assert.deepEqual(body.HostConfig.LogConfig.Config, { 'max-size': '1m', 'max-file': '2' });
    assert.equal(body.HostConfig.Memory, CAPS.memoryBytes);
    assert.equal(body.HostConfig.NanoCpus, 2e9);
    assert.deepEqual(p.volumes, []);
  });

  test('the same deployment gives the same bodies (the config label finds changed containers)', () => {
    const again = planSandbox(
      deployment(EVERY_KEY, { resources: { memory: '1g', cpus: 0.5 } }),
      CAPS,
      INSTANCE,
    );
    assert.deepEqual(again, plan);
    const smaller = planSandbox(deployment(EVERY_KEY), { ...CAPS, pids: 100 }, INSTANCE);
    assert.notEqual(
      smaller.containers[0]!.body.Labels[SANDBOX_LABELS.config],
      plan.containers[0]!.body.Labels[SANDBOX_LABELS.config],
    );
  });
});

describe('planSandbox refusals', () => {
  const code = (fn: () => unknown) => {
    try {
      fn();
      return undefined;
    } catch (err) {
      assert.ok(isWarrenError(err), String(err));
      return `${err.code}: ${err.message}`;
    }
  };

  test('a depends_on cycle', () => {
    const compose = {
      services: {
        web: { image: 'a/b:1', depends_on: ['api'] },
        api: { image: 'a/b:1', depends_on: ['db'] },
        db: { image: 'a/b:1', depends_on: ['api'] },
      },
    };
    assert.match(
      code(() => planSandbox(deployment(compose), CAPS, INSTANCE))!,
      /SANDBOX_DEPENDENCY_CYCLE: .*api -> db -> api/,
    );
    assert.deepEqual(dependencyOrder({ a: { depends_on: ['b'] }, b: {}, c: { depends_on: ['a'] } }), [
      'b',
      'a',
      'c',
    ]);
  });

  test('a service without a loaded image id', () => {
    const d = deployment({ services: { web: { image: 'a/b:1' } } });
    assert.match(code(() => planSandbox({ ...d, images: {} }, CAPS, INSTANCE))!, /SANDBOX_IMAGE_MISSING/);
    assert.match(
      code(() => planSandbox({ ...d, images: { web: 'a/b:1' } }, CAPS, INSTANCE))!,
      /SANDBOX_IMAGE_MISSING/,
    );
  });

  test('tmpfs options that allow set-id programs or devices, and odd sizes', () => {
    for (const tmpfs of ['/t:suid', '/t:dev', '/t:size=1x']) {
      const compose = { services: { web: { image: 'a/b:1', tmpfs } } };
      assert.match(
        code(() => planSandbox(deployment(compose), CAPS, INSTANCE))!,
        /SANDBOX_COMPOSE_REFUSED/,
        tmpfs,
      );
    }
    const big = { services: { web: { image: 'a/b:1', tmpfs: '/t:size=4g' } } };
    const body = planSandbox(deployment(big), CAPS, INSTANCE).containers[0]!.body;
    assert.equal(body.HostConfig.Tmpfs['/t'], `size=${CAPS.memoryBytes}`, 'capped to the memory limit');
  });

  test('too many exposed ports, an unterminated quote, a health test list of the wrong kind', () => {
    const cases = [
      { image: 'a/b:1', expose: ['1-2000'] },
      { image: 'a/b:1', command: 'sh -c "echo' },
      { image: 'a/b:1', healthcheck: { test: ['curl', 'x'] } },
    ];
    for (const web of cases) {
      assert.match(
        code(() => planSandbox(deployment({ services: { web } }), CAPS, INSTANCE))!,
        /SANDBOX_COMPOSE_REFUSED/,
      );
    }
  });

  test('a very long stop_grace_period is capped', () => {
    const compose = { services: { web: { image: 'a/b:1', stop_grace_period: '5h' } } };
    assert.equal(planSandbox(deployment(compose), CAPS, INSTANCE).containers[0]!.body.StopTimeout, 600);
  });

  test('a short instance id', () => {
    assert.match(
      code(() => planSandbox(deployment({ services: { web: { image: 'a/b:1' } } }), CAPS, 'ab'))!,
      /SANDBOX_INSTANCE_ID/,
    );
  });

  test('CAP_ADD is the short allowlist', () => {
    assert.equal(CAP_ADD.length, 6);
    assert.ok(!(CAP_ADD as readonly string[]).includes('SYS_ADMIN'));
    assert.ok(!(CAP_ADD as readonly string[]).includes('NET_RAW'));
  });
});
