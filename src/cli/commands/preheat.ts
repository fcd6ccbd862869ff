import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import { type ManagerFlags, managerOptions, withApi } from '../manager-api.js';
import { collect, type JobJson, parseHeaderLines, printJob, waitForJob } from './job.js';

const SCOPES = ['single_seed_peer', 'all_seed_peers', 'all_peers'];

interface PreheatFlags extends ManagerFlags {
  scope: string;
  count?: string;
  percentage?: string;
  header: string[];
  tag?: string;
  application?: string;
  filterQuery: string[];
  cluster?: string;
  image?: string;
  platform?: string;
  wait?: boolean;
  json?: boolean;
}

/**
 * `warren preheat URL...` / `warren preheat --image REF`: have seed peers
 * (or peers) fetch files, or an image's blobs, before anyone asks for them. Prints the job id (alone on stdout, for `$(…)`), or
 * with `--wait` the per-host results.
 */
export function registerPreheatCommand(program: Command): void {
  managerOptions(
    program
      .command('preheat [urls...]')
      .description('fetch files, or an image (--image), into the P2P network ahead of use (a job)'),
  )
    .option('--image <ref>', "an image on a registry in the manager's config: its blobs instead of URLs")
    .option('--platform <os/arch>', '--image: the platform to warm (default linux/amd64)')
    .option('--scope <scope>', `${SCOPES.join(' | ')}`, 'single_seed_peer')
    .option('--count <n>', 'all_peers: only this many hosts')
    .option('--percentage <p>', 'all_peers: only this share of the hosts (1-100)')
    .option('-H, --header <header>', "origin request header 'Name: value' (repeatable)", collect, [])
    .option('--tag <tag>', 'tag, part of the task id (as with warren get)')
    .option('--application <name>', 'application, part of the task id')
    .option('--filter-query <name>', 'query parameter left out of the task id (repeatable)', collect, [])
    .option('--cluster <id>', 'cluster id (default: the default cluster)')
    .option('--wait', 'wait for the job and print each host result')
    .option('--json', 'machine-readable output')
    .action(async (urls: string[], flags: PreheatFlags) => {
      if (!SCOPES.includes(flags.scope)) {
        throw new WarrenError('BAD_SCOPE', `--scope must be one of ${SCOPES.join(', ')}`, 400);
      }
      if (urls.length > 0 === (flags.image !== undefined)) {
        throw new WarrenError('BAD_ARGUMENTS', 'give URLs or --image REF, one of them', 400);
      }
      if (flags.platform !== undefined && flags.image === undefined) {
        throw new WarrenError('BAD_ARGUMENTS', '--platform goes with --image', 400);
      }
      const args = {
        ...(flags.image !== undefined ? { image: flags.image } : { urls }),
        ...(flags.platform !== undefined ? { platform: flags.platform } : {}),
        scope: flags.scope,
        ...(flags.header.length > 0 ? { headers: parseHeaderLines(flags.header) } : {}),
        ...(flags.tag ? { tag: flags.tag } : {}),
        ...(flags.application ? { application: flags.application } : {}),
        ...(flags.filterQuery.length > 0 ? { filter_query: flags.filterQuery } : {}),
        ...(flags.count !== undefined ? { count: integer(flags.count, '--count') } : {}),
        ...(flags.percentage !== undefined ? { percentage: integer(flags.percentage, '--percentage') } : {}),
      };
      await withApi(flags, async (api) => {
        const made = await api.call<JobJson>('POST', '/api/v1/jobs', {
          type: 'preheat',
          ...(flags.cluster ? { cluster_id: flags.cluster } : {}),
          args,
        });
        if (!flags.wait) {
          if (flags.json) printJob(made, true);
          else process.stdout.write(`${made.id}\n`);
          return;
        }
        printJob(await waitForJob(api, made.id, !flags.json), flags.json);
      });
    });
}

function integer(value: string, what: string): number {
  if (!/^\d+$/.test(value)) throw new WarrenError('BAD_NUMBER', `${what} must be a whole number`, 400);
  return Number(value);
}
