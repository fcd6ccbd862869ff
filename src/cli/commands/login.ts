import type { Command } from 'commander';
import { type ManagerFlags, managerOptions } from '../manager-api.js';

interface LoginFlags extends ManagerFlags {
  user?: string;
  passwordStdin?: boolean;
  json?: boolean;
}

interface LoginAnswer {
  token: string;
  expires_at: string;
  user: { id: string; name: string; role: string; must_change_password: boolean };
}

/**
 * `warren login` opens a session and saves it (with the manager's address
 * and CA) in the 0600 credentials file every other manager command reads;
 * `warren logout` ends it.
 */
export function registerLoginCommands(program: Command): void {
  managerOptions(
    program
      .command('login')
      .description('log in to the manager; the session is saved for later commands (0600 file)'),
  )
    .option('--user <name>', "user name (default: the last one logged in, else 'root')")
    .option('--password-stdin', 'read the password from the first line of stdin (no terminal prompt)')
    .option('--json', 'machine-readable output')
    .action(async (flags: LoginFlags) => {
      const [{ ManagerApi, readCredentials, writeCredentials }, input] = await Promise.all([
        import('../manager-api.js'),
        import('../secret-input.js'),
      ]);
      const saved = readCredentials();
      const user = flags.user ?? saved.user ?? 'root';
      // Only the address and CA: a saved or WARREN_TOKEN secret has no business with a login.
      const located = ManagerApi.fromFlags(flags, { needToken: false });
      await located.close();
      const anonymous = new ManagerApi(located.base, located.ca, undefined);
      let password: string;
      if (flags.passwordStdin) [password] = (await input.readStdinLines(1, 'the password')) as [string];
      else if (input.canPrompt()) password = await input.promptSecret(`password for ${user}: `);
      else {
        const { WarrenError } = await import('../../core/errors.js');
        throw new WarrenError(
          'NO_TERMINAL',
          'no terminal to ask for the password on: use --password-stdin',
          400,
        );
      }
      let answer: LoginAnswer;
      try {
        answer = await anonymous.call<LoginAnswer>('POST', '/api/v1/auth/login', { name: user, password });
      } finally {
        await anonymous.close();
      }
      const path = writeCredentials({
        manager: located.base,
        ca: located.ca,
        token: answer.token,
        user: answer.user.name,
      });
      let mustChange = answer.user.must_change_password;
      if (mustChange && !flags.passwordStdin && input.canPrompt()) {
        process.stderr.write(`${user} has a one-time password: choose a new one now.\n`);
        const next = await input.promptNewPassword('new password');
        const session = new ManagerApi(located.base, located.ca, answer.token);
        try {
          await session.call('POST', '/api/v1/users/me/password', {
            current_password: password,
            new_password: next,
          });
        } finally {
          await session.close();
        }
        mustChange = false;
      } else if (mustChange) {
        process.stderr.write(
          `warren: ${user} has a one-time password; change it before anything else: 'warren user passwd'\n`,
        );
      }
      if (flags.json) {
        const out = {
          manager: located.base,
          user: answer.user.name,
          role: answer.user.role,
          expires_at: answer.expires_at,
          must_change_password: mustChange,
          credentials: path,
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
      } else {
        process.stdout.write(
          `logged in to ${located.base} as ${answer.user.name} (${answer.user.role}) until ${answer.expires_at}\n`,
        );
      }
    });

  managerOptions(program.command('logout').description('end the saved login session'))
    .option('--json', 'machine-readable output')
    .action(async (flags: ManagerFlags & { json?: boolean }) => {
      const [{ ManagerApi, readCredentials, writeCredentials }, { isWarrenError }] = await Promise.all([
        import('../manager-api.js'),
        import('../../core/errors.js'),
      ]);
      const api = ManagerApi.fromFlags(flags);
      try {
        await api.call('POST', '/api/v1/auth/logout');
      } catch (err) {
        // An already expired session is as logged out as it gets.
        if (!isWarrenError(err, 'UNAUTHENTICATED')) throw err;
      } finally {
        await api.close();
      }
      const saved = readCredentials();
      if (saved.manager === api.base && saved.ca) {
        // Keep the address and CA so the next login needs no flags.
        writeCredentials({ manager: saved.manager, ca: saved.ca, token: '', user: saved.user });
      }
      if (flags.json) process.stdout.write(`${JSON.stringify({ manager: api.base, logged_out: true })}\n`);
      else process.stdout.write(`logged out of ${api.base}\n`);
    });
}
