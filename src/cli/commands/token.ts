import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import { type ManagerFlags, managerOptions, withApi } from '../manager-api.js';
import { printRows } from '../output.js';

interface TokenJson {
  id: string;
  name: string;
  owner: string;
  scopes: string[];
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  previous_valid_until: string | null;
}

type Flags = ManagerFlags & { json?: boolean };

/**
 * `warren token create|ls|revoke|rotate`: personal access tokens (scopes
 * read, job, cluster) and join tokens (scope enroll). Needs a login session
 * (`warren login`): a token cannot manage tokens. A new secret is printed
 * once, alone on stdout, so `T=$(warren token create …)` captures it.
 */
export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description('personal access tokens and join (enroll) tokens');

  managerOptions(token.command('create').description('create a token; prints its secret once'))
    .requiredOption('--name <name>', 'what the token is for')
    .requiredOption(
      '--scope <scopes>',
      "comma-separated: read, job, cluster — or 'enroll' alone (a join token)",
    )
    .option('--expires <when>', "a duration like '30d' or an ISO time (required, but for enroll: 24h)")
    .option('--json', 'machine-readable output (includes the secret)')
    .action(async (flags: Flags & { name: string; scope: string; expires?: string }) => {
      const scopes = flags.scope
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      await withApi(flags, async (api) => {
        const made = await api.call<TokenJson & { token: string }>('POST', '/api/v1/tokens', {
          name: flags.name,
          scopes,
          ...expiry(flags.expires),
        });
        announce(made, flags.json, 'created');
      });
    });

  managerOptions(token.command('ls').description('list your tokens (never their secrets)'))
    .option('--all', "every user's tokens (root only)")
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags & { all?: boolean }) => {
      const { fetchAllPages } = await import('../paging.js');
      await withApi(flags, async (api) => {
        const tokens = await fetchAllPages<TokenJson>(api, `/api/v1/tokens${flags.all ? '?all=true' : ''}`);
        print(tokens, flags.json, flags.all === true);
      });
    });

  managerOptions(token.command('revoke <id>').description('revoke a token at once'))
    .option('--json', 'machine-readable output')
    .action(async (id: string, flags: Flags) => {
      await withApi(flags, async (api) => {
        const revoked = await api.call<TokenJson>('DELETE', `/api/v1/tokens/${encodeURIComponent(id)}`);
        print([revoked], flags.json, true);
      });
    });

  managerOptions(
    token
      .command('rotate <id>')
      .description('new secret for a token; the old one keeps working for auth.rotationGrace'),
  )
    .option('--json', 'machine-readable output (includes the secret)')
    .action(async (id: string, flags: Flags) => {
      await withApi(flags, async (api) => {
        const rotated = await api.call<TokenJson & { token: string }>(
          'POST',
          `/api/v1/tokens/${encodeURIComponent(id)}/rotate`,
        );
        announce(rotated, flags.json, 'rotated');
      });
    });
}

/** `--expires 30d` → expires_in; `--expires 2030-01-01T00:00:00Z` → expires_at. */
export function expiry(value: string | undefined): { expires_in?: string; expires_at?: string } {
  if (value === undefined) return {};
  if (/^\d+(\.\d+)?\s*(ms|s|m|h|d)$/.test(value.trim())) return { expires_in: value.trim() };
  if (!Number.isNaN(Date.parse(value))) return { expires_at: value };
  throw new WarrenError(
    'BAD_EXPIRY',
    `--expires '${value}' is neither a duration like '30d' nor an ISO time`,
    400,
  );
}

/** The secret alone on stdout (for `$(…)`), the rest on stderr; or everything as JSON. */
function announce(made: TokenJson & { token: string }, json: boolean | undefined, what: string): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(made)}\n`);
    return;
  }
  process.stdout.write(`${made.token}\n`);
  const until =
    made.previous_valid_until && what === 'rotated'
      ? `; the old secret works until ${made.previous_valid_until}`
      : '';
  process.stderr.write(
    `${what} token ${made.id} '${made.name}' (${made.scopes.join(', ')}), expires ${made.expires_at}${until}. The secret above is shown only this once.\n`,
  );
}

function status(t: TokenJson): string {
  if (t.revoked_at) return 'revoked';
  if (Date.parse(t.expires_at) <= Date.now()) return 'expired';
  return 'active';
}

function print(tokens: TokenJson[], json: boolean | undefined, withOwner: boolean): void {
  printRows(
    tokens,
    [
      { header: 'id', value: (t) => t.id },
      { header: 'name', value: (t) => t.name },
      ...(withOwner ? [{ header: 'owner', value: (t: TokenJson) => t.owner }] : []),
      { header: 'scopes', value: (t) => t.scopes.join(',') },
      { header: 'status', value: status },
      { header: 'created', value: (t) => t.created_at },
      { header: 'expires', value: (t) => t.expires_at },
      { header: 'last used', value: (t) => t.last_used_at ?? 'never' },
    ],
    json,
  );
}
