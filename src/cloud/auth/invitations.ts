import type { Kysely } from 'kysely';
import { checkPasswordPolicy, hashPassword } from '../../core/auth/passwords.js';
import { newSecret, sha256Hex } from '../../core/auth/secrets.js';
import { isUniqueViolation, newId } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import type { CloudDatabase } from '../db/schema.js';
import type { LoginLimits } from './login-limits.js';
import { INVITATION_PREFIX } from './tokens.js';
import { type Role, USER_NAME, type Users, type UserView, userView } from './users.js';

export const DEFAULT_INVITATION_TTL_MS = 7 * 86_400_000;

/**
 * Invitations: an admin makes a one-time code (256 bits, only its SHA-256
 * kept) for a role; whoever holds it joins once, choosing a name and a
 * password, before it expires. The code is used up in the transaction that
 * makes the user, so two joins cannot share it, and a refused join (name
 * taken, weak password) leaves it usable.
 */
export class Invitations {
  private readonly ttlMs: number;

  constructor(
    private readonly components: {
      db: Kysely<CloudDatabase>;
      users: Users;
      limits: LoginLimits;
      now?: () => number;
    },
    settings: { invitationTtlMs?: number } = {},
  ) {
    this.ttlMs = settings.invitationTtlMs ?? DEFAULT_INVITATION_TTL_MS;
  }

  private now(): number {
    return (this.components.now ?? Date.now)();
  }

  /** A new invitation for `role`; the code is returned once. */
  async create(createdBy: string, role: Role): Promise<{ id: string; code: string; expires_at: string }> {
    const code = newSecret(INVITATION_PREFIX);
    const now = this.now();
    const row = {
      id: newId('inv'),
      code_hash: sha256Hex(code),
      role,
      created_by: createdBy,
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + this.ttlMs).toISOString(),
      used_at: null,
    };
    await this.components.db.insertInto('invitations').values(row).execute();
    return { id: row.id, code, expires_at: row.expires_at };
  }

  /** Makes the user the invitation `code` was for; 403 INVITATION_INVALID when unknown, used or expired. */
  async join(code: string, name: string, password: string, address: string): Promise<UserView> {
    if (!USER_NAME.test(name)) {
      throw new WarrenError('NAME_INVALID', `a user name must match ${USER_NAME.source}`, 400);
    }
    checkPasswordPolicy(password);
    const now = new Date(this.now()).toISOString();
    // A wrong code is refused before any argon2 work; the transaction below checks again.
    const live = await this.components.db
      .selectFrom('invitations')
      .select('id')
      .where('code_hash', '=', sha256Hex(code))
      .where('used_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirst();
    if (!live) throw this.invalid(address);
    const hash = await hashPassword(password);
    try {
      return await this.components.db.transaction().execute(async (trx) => {
        const invitation = await trx
          .selectFrom('invitations')
          .select(['id', 'role'])
          .where('code_hash', '=', sha256Hex(code))
          .where('used_at', 'is', null)
          .where('expires_at', '>', now)
          .executeTakeFirst();
        const used = invitation
          ? await trx
              .updateTable('invitations')
              .set({ used_at: now })
              .where('id', '=', invitation.id)
              .where('used_at', 'is', null)
              .executeTakeFirst()
          : undefined;
        if (!invitation || Number(used?.numUpdatedRows) !== 1) throw this.invalid(address);
        const row = this.components.users.newRow(name, hash, invitation.role, 0);
        await trx.insertInto('users').values(row).execute();
        return userView(row);
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw new WarrenError('NAME_TAKEN', `the user name '${name}' is taken`, 409);
      throw err;
    }
  }

  private invalid(address: string): WarrenError {
    this.components.limits.recordFailure('', address);
    return new WarrenError('INVITATION_INVALID', 'the invitation is unknown, used or expired', 403);
  }
}
