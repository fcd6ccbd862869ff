import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import type { ManagerApi, ManagerFlags } from '../manager-api.js';
import { managerOptions, withApi } from '../manager-api.js';
import { printRows } from '../output.js';

interface UserJson {
  id: string;
  name: string;
  role: string;
  must_change_password: boolean;
  created_at: string;
  password_changed_at: string;
}

type Flags = ManagerFlags & { json?: boolean };

/** `warren user add|ls|passwd|role|rm`: users of the manager (root only, but passwd). */
export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manager users: root (everything) and guest (read-only)');

  managerOptions(user.command('add <name>').description('create a user (root only)'))
    .requiredOption('--role <role>', 'root or guest')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .option('--json', 'machine-readable output')
    .action(async (name: string, flags: Flags & { role: string; passwordStdin?: boolean }) => {
      const input = await import('../secret-input.js');
      const password = flags.passwordStdin
        ? ((await input.readStdinLines(1, 'the password')) as [string])[0]
        : await promptOrFail(() => input.promptNewPassword(`password for ${name}`), input.canPrompt());
      await withApi(flags, async (api) => {
        const made = await api.call<UserJson>('POST', '/api/v1/users', { name, role: flags.role, password });
        print([made], flags.json);
      });
    });

  managerOptions(user.command('ls').description('list users (root only)'))
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags) => {
      const { fetchAllPages } = await import('../paging.js');
      await withApi(flags, async (api) =>
        print(await fetchAllPages<UserJson>(api, '/api/v1/users'), flags.json),
      );
    });

  managerOptions(user.command('passwd').description('change your own password (ends your other sessions)'))
    .option('--password-stdin', 'read the current and the new password from two lines of stdin')
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags & { passwordStdin?: boolean }) => {
      const input = await import('../secret-input.js');
      let current: string;
      let next: string;
      if (flags.passwordStdin) {
        [current, next] = (await input.readStdinLines(2, 'the current and the new password')) as [
          string,
          string,
        ];
      } else {
        current = await promptOrFail(() => input.promptSecret('current password: '), input.canPrompt());
        next = await input.promptNewPassword('new password');
      }
      await withApi(flags, async (api) => {
        await api.call('POST', '/api/v1/users/me/password', {
          current_password: current,
          new_password: next,
        });
        if (flags.json) process.stdout.write(`${JSON.stringify({ changed: true })}\n`);
        else process.stdout.write('password changed; your other sessions are ended\n');
      });
    });

  managerOptions(user.command('role <user> <role>').description("change a user's role (root only)"))
    .option('--json', 'machine-readable output')
    .action(async (who: string, role: string, flags: Flags) => {
      await withApi(flags, async (api) => {
        const id = await userId(api, who);
        print(
          [await api.call<UserJson>('PATCH', `/api/v1/users/${encodeURIComponent(id)}`, { role })],
          flags.json,
        );
      });
    });

  managerOptions(
    user.command('rm <user>').description('delete a user with their sessions and tokens (root only)'),
  )
    .option('--json', 'machine-readable output')
    .action(async (who: string, flags: Flags) => {
      await withApi(flags, async (api) => {
        const id = await userId(api, who);
        print([await api.call<UserJson>('DELETE', `/api/v1/users/${encodeURIComponent(id)}`)], flags.json);
      });
    });
}

async function promptOrFail<T>(ask: () => Promise<T>, interactive: boolean): Promise<T> {
  if (!interactive) {
    throw new WarrenError('NO_TERMINAL', 'no terminal to ask for the password on: use --password-stdin', 400);
  }
  return ask();
}

/** A user id from an id (`usr_…`) or a name. */
async function userId(api: ManagerApi, who: string): Promise<string> {
  if (who.startsWith('usr_')) return who;
  const { fetchAllPages } = await import('../paging.js');
  const found = (await fetchAllPages<UserJson>(api, '/api/v1/users')).find((u) => u.name === who);
  if (!found) throw new WarrenError('NOT_FOUND', `no user named '${who}'`, 404);
  return found.id;
}

function print(users: UserJson[], json: boolean | undefined): void {
  printRows(
    users,
    [
      { header: 'id', value: (u) => u.id },
      { header: 'name', value: (u) => u.name },
      { header: 'role', value: (u) => u.role },
      { header: 'created', value: (u) => u.created_at },
      { header: 'password changed', value: (u) => u.password_changed_at },
      { header: 'must change', value: (u) => (u.must_change_password ? 'yes' : '') },
    ],
    json,
  );
}
