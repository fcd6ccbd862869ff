import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import { type ManagerFlags, managerOptions, withApi } from '../manager-api.js';
import { printRows } from '../output.js';

interface Entry {
  host: string;
  reason: string;
  created_by: string;
  created_at: string;
}

/**
 * `warren peer block HOST`, `warren peer unblock HOST`, `warren peer blocklist`:
 * subcommands of `warren peer`, which without one still runs the peer daemon
 * (commander picks a subcommand by its name, so `warren peer --data …` is unchanged).
 */
export function registerBlocklistCommands(program: Command): void {
  const peer = program.commands.find((c) => c.name() === 'peer');
  if (!peer) throw new WarrenError('CLI_SETUP', "the 'peer' command must be registered first", 500);

  managerOptions(
    peer
      .command('block <host>')
      .description('block a host (id or IP): schedulers never choose it as a parent'),
  )
    .option('--reason <text>', 'why (kept in the blocklist and the audit log)')
    .option('--json', 'machine-readable output')
    .action(async (host: string, _flags: unknown, cmd: Command) => {
      const flags = options<{ reason?: string; json?: boolean }>(cmd);
      await withApi(flags, async (api) => {
        const entry = await api.call<Entry>('POST', '/api/v1/blocklist', {
          host,
          ...(flags.reason ? { reason: flags.reason } : {}),
        });
        print([entry], flags.json);
      });
    });

  managerOptions(peer.command('unblock <host>').description('remove a host from the blocklist')).action(
    async (host: string, _flags: unknown, cmd: Command) => {
      await withApi(options(cmd), async (api) => {
        await api.call('DELETE', `/api/v1/blocklist/${encodeURIComponent(host)}`);
        process.stdout.write(`unblocked ${host}\n`);
      });
    },
  );

  managerOptions(peer.command('blocklist').description('list blocked hosts'))
    .option('--json', 'machine-readable output')
    .action(async (_flags: unknown, cmd: Command) => {
      const flags = options<{ json?: boolean }>(cmd);
      const { fetchAllPages } = await import('../paging.js');
      await withApi(flags, async (api) =>
        print(await fetchAllPages<Entry>(api, '/api/v1/blocklist'), flags.json),
      );
    });
}

/**
 * The subcommand's options with those `warren peer` itself took: the daemon
 * has a `--manager` too, so commander hands `--manager` given after `block`
 * to the parent; typed there, it is the REST address meant for this command.
 */
function options<T>(cmd: Command): ManagerFlags & T {
  return cmd.optsWithGlobals() as ManagerFlags & T;
}

function print(entries: Entry[], json: boolean | undefined): void {
  printRows(
    entries,
    [
      { header: 'host', value: (e) => e.host },
      { header: 'reason', value: (e) => e.reason },
      { header: 'by', value: (e) => e.created_by },
      { header: 'since', value: (e) => e.created_at },
    ],
    json,
  );
}
