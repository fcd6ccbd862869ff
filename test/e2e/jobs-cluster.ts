import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createToken, rootSession } from '../helpers/auth.js';
import { makeRandomFile } from '../helpers/files.js';
import { startTestManager, type TestManager } from '../helpers/manager.js';
import { type Origin, type OriginOptions, startOrigin } from '../helpers/origin.js';
import { killAll, type RunResult, runWarren } from '../helpers/processes.js';
import { tempDir } from '../helpers/tmp.js';
import { Cluster, metric } from './cluster.js';

/*
 * For the job e2e tests: an origin, a manager (in this process), a scheduler
 * and peers as processes that find the scheduler through the manager, and
 * the `warren` CLI logged in with a token (WARREN_TOKEN, never a flag).
 */

export interface JobsCluster {
  dir: string;
  origin: Origin;
  manager: TestManager;
  cluster: Cluster;
  /** A token of root's with scopes job, read and cluster. */
  token: string;
  /** SHA-256 (hex) of each origin file, by name. */
  files: Map<string, string>;
  /** Runs `warren ARGS… --manager API --ca-file CA` with the token in the environment. */
  cli(args: string[]): Promise<RunResult>;
  /** Runs the CLI, expects exit 0 and JSON on stdout. */
  // biome-ignore lint/suspicious/noExplicitAny: CLI JSON output
  cliJson(args: string[]): Promise<any>;
  stop(): Promise<void>;
}

export async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startJobsCluster(options: {
  files: Array<{ name: string; size: number }>;
  seeds: string[];
  peers: string[];
  origin?: Omit<OriginOptions, 'dir'>;
}): Promise<JobsCluster> {
  const dir = tempDir('warren-jobs-');
  const www = join(dir, 'www');
  await mkdir(www, { recursive: true });
  const files = new Map<string, string>();
  for (const f of options.files) files.set(f.name, (await makeRandomFile(join(www, f.name), f.size)).sha256);
  const origin = await startOrigin({ dir: www, ...options.origin });
  const manager = await startTestManager({
    flags: { 'keepalive.interval': '500ms', 'keepalive.inactiveAfter': '5s', 'cache.refresh': '300ms' },
  });
  const root = await rootSession(manager);
  const { token } = await createToken(manager, root, ['job', 'read', 'cluster']);
  const caFile = join(dir, 'manager-ca.crt');
  writeFileSync(caFile, manager.caPem);

  const cluster = new Cluster(dir).useManager(manager.manager);
  await cluster.startScheduler();
  const clusters = manager.manager.ctx.clusters;
  await eventually('the scheduler registered', () =>
    clusters.components().some((c) => c.role === 'scheduler' && c.state === 'active'),
  );
  for (const name of options.seeds) await cluster.startPeer(name, { seed: true });
  for (const name of options.peers) await cluster.startPeer(name);
  const hosts = options.seeds.length + options.peers.length;
  await eventually(`${hosts} hosts on the scheduler`, async () => {
    return (await metric(cluster.scheduler!.ops, 'warren_scheduler_hosts_connected')) === hosts;
  });

  const cli = (args: string[]) =>
    runWarren([...args, '--manager', manager.api, '--ca-file', caFile], {
      env: { WARREN_TOKEN: token, XDG_CONFIG_HOME: join(dir, 'config') },
      timeoutMs: 120_000,
    });
  return {
    dir,
    origin,
    manager,
    cluster,
    token,
    files,
    cli,
    async cliJson(args) {
      const result = await cli([...args, '--json']);
      assert.equal(result.code, 0, `warren ${args.join(' ')}: ${result.stderr}`);
      return JSON.parse(result.stdout);
    },
    async stop() {
      await killAll();
      await manager.stop();
      await origin.close();
    },
  };
}

/** The tasks a peer's local API lists (`warren task ls --json`). */
export async function localTasks(
  socket: string,
): Promise<Array<{ taskId: string; state: string; piecesHeld: number; pieceCount: number }>> {
  const result = await runWarren(['task', 'ls', '--socket', socket, '--json']);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}
