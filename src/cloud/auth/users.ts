import type { Kysely } from 'kysely';
import { checkPasswordPolicy, hashPassword, verifyPassword } from '../../core/auth/passwords.js';
import { newOneTimePassword } from '../../core/auth/secrets.js';
import { type Dialect, isUniqueViolation, newId } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { readSmallFile } from '../../core/release/keys.js';
import type { CloudDatabase, UsersTable } from '../db/schema.js';
import type { AuthEvents } from './events.js';
import type { LoginLimits } from './login-limits.js';
import type { Sessions } from './sessions.js';
import { newTotpSecret, otpauthUrl, verifyTotp } from './totp.js';

/** User names: lower case, as they show in the audit log and the console. */
export const USER_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const ADMIN_NAME = 'admin';
export type Role = 'admin' | 'user';

/** A user as the API shows them (never a hash or a TOTP secret). */
export interface UserView {
  id: string;
  name: string;
  role: Role;
  must_change_password: boolean;
  totp: boolean;
  created_at: string;
}

type UserRow = Pick<
  UsersTable,
  | 'id'
  | 'name'
  | 'role'
  | 'password_hash'
  | 'totp_secret'
  | 'totp_last_step'
  | 'must_change_password'
  | 'created_at'
>;

const COLUMNS = [
  'id',
  'name',
  'role',
  'password_hash',
  'totp_secret',
  'totp_last_step',
  'must_change_password',
  'created_at',
] as const;

export function userView(row: UserRow): UserView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    must_change_password: row.must_change_password === 1,
    totp: row.totp_secret !== null,
    created_at: row.created_at,
  };
}

/**
 * Users, passwords (argon2id, core/auth/passwords.ts), roles and the TOTP
 * second factor. There is never a default password: the first admin gets the
 * one in WARREN_ADMIN_PASSWORD_FILE or a one-time password. The last admin
 * can be neither demoted nor deleted; the check runs in the transaction that
 * makes the change, with the admin rows locked on PostgreSQL (SQLite runs one
 * write transaction at a time), so two admins demoting each other at once
 * cannot leave the instance without one.
 */
export class Users {
  private readonly totpIssuer: string;

  constructor(
    private readonly components: {
      db: Kysely<CloudDatabase>;
      dialect: Dialect;
      sessions: Sessions;
      events: AuthEvents;
      limits: LoginLimits;
      now?: () => number;
    },
    settings: { totpIssuer?: string } = {},
  ) {
    this.totpIssuer = settings.totpIssuer ?? 'Warren';
  }

  private get db() {
    return this.components.db;
  }

  private now(): number {
    return (this.components.now ?? Date.now)();
  }

  /**
   * Creates 'admin' when there is no user yet: with the password in
   * `passwordFile` (owner-only, one trailing newline dropped, policy checked),
   * or a one-time password returned here once (the caller prints it; never logged).
   */
  async bootstrapAdmin(passwordFile?: string): Promise<{ created: boolean; oneTimePassword?: string }> {
    const any = await this.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (any) return { created: false };
    let password: string;
    let oneTime: string | undefined;
    if (passwordFile) {
      password = (await readPasswordFile(passwordFile)).replace(/\r?\n$/, '');
      checkPasswordPolicy(password, 'admin password');
    } else {
      oneTime = newOneTimePassword();
      password = oneTime;
    }
    try {
      await this.db
        .insertInto('users')
        .values(this.newRow(ADMIN_NAME, await hashPassword(password), 'admin', oneTime ? 1 : 0))
        .execute();
    } catch (err) {
      if (isUniqueViolation(err)) return { created: false }; // another replica made it first
      throw err;
    }
    return { created: true, ...(oneTime ? { oneTimePassword: oneTime } : {}) };
  }

  newRow(name: string, passwordHash: string, role: Role, mustChange: 0 | 1): UsersTable {
    return {
      id: newId('usr'),
      name,
      password_hash: passwordHash,
      role,
      totp_secret: null,
      totp_pending: null,
      totp_last_step: 0,
      must_change_password: mustChange,
      created_at: new Date(this.now()).toISOString(),
    };
  }

  async byId(id: string): Promise<UserView | undefined> {
    const row = await this.db.selectFrom('users').select(COLUMNS).where('id', '=', id).executeTakeFirst();
    return row ? userView(row) : undefined;
  }

  async get(id: string): Promise<UserView> {
    const user = await this.byId(id);
    if (!user) throw new WarrenError('USER_NOT_FOUND', `no user ${id}`, 404);
    return user;
  }

  async list(): Promise<UserView[]> {
    const rows = await this.db.selectFrom('users').select(COLUMNS).orderBy('name').limit(10_000).execute();
    return rows.map(userView);
  }

  /**
   * Checks a sign-in. An unknown name costs the same argon2 time as a known
   * one. Wrong password or code: 401 INVALID_CREDENTIALS and a failure counted
   * against the name and the address; right password, second factor missing:
   * 401 TOTP_REQUIRED. A TOTP code is accepted once (its step is stored).
   */
  async verifyLogin(
    name: string,
    password: string,
    totp: string | undefined,
    address: string,
  ): Promise<UserView> {
    const row = USER_NAME.test(name)
      ? await this.db.selectFrom('users').select(COLUMNS).where('name', '=', name).executeTakeFirst()
      : undefined;
    const refuse = (message: string) => {
      this.components.limits.recordFailure(name, address);
      return new WarrenError('INVALID_CREDENTIALS', message, 401);
    };
    if (!(await verifyPassword(row?.password_hash, password)) || !row)
      throw refuse('wrong user name or password');
    if (row.totp_secret !== null) {
      if (totp === undefined) {
        throw new WarrenError('TOTP_REQUIRED', 'this account needs the code from its authenticator app', 401);
      }
      if (!(await this.consumeTotpCode(row.id, row.totp_secret, row.totp_last_step, totp))) {
        throw refuse('the authenticator code is wrong or was already used');
      }
    }
    return userView(row);
  }

  /** Accepts `code` for `secret` once: the step is stored only if newer than the last (atomic). */
  private async consumeTotpCode(
    userId: string,
    secret: string,
    lastStep: number,
    code: string,
  ): Promise<boolean> {
    const step = verifyTotp(secret, code, this.now(), Number(lastStep));
    if (step === undefined) return false;
    const updated = await this.db
      .updateTable('users')
      .set({ totp_last_step: step })
      .where('id', '=', userId)
      .where('totp_last_step', '<', step)
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  /** Sets a new password after checking the current one; ends the user's other sessions. */
  async changePassword(
    userId: string,
    current: string,
    next: string,
    keepSessionId: string,
    address: string,
  ) {
    const row = await this.db.selectFrom('users').select(COLUMNS).where('id', '=', userId).executeTakeFirst();
    if (!row) throw new WarrenError('USER_NOT_FOUND', `no user ${userId}`, 404);
    if (!(await verifyPassword(row.password_hash, current))) {
      this.components.limits.recordFailure(row.name, address);
      throw new WarrenError('WRONG_PASSWORD', 'the current password is wrong', 403);
    }
    checkPasswordPolicy(next, 'new password');
    if (next === current) {
      throw new WarrenError('PASSWORD_UNCHANGED', 'the new password must differ from the current one', 400);
    }
    const hash = await hashPassword(next);
    const ended = await this.db.transaction().execute(async (trx) => {
      await trx
        .updateTable('users')
        .set({ password_hash: hash, must_change_password: 0 })
        .where('id', '=', userId)
        .execute();
      return this.components.sessions.endUserSessions(userId, keepSessionId, trx);
    });
    this.components.events.sessionsEnded(ended);
    this.components.events.userChanged(userId);
  }

  /** An admin's reset: a one-time password (returned once), to be changed at next sign-in; ends all sessions. */
  async resetPassword(userId: string): Promise<string> {
    const password = newOneTimePassword();
    const hash = await hashPassword(password);
    const ended = await this.db.transaction().execute(async (trx) => {
      const updated = await trx
        .updateTable('users')
        .set({ password_hash: hash, must_change_password: 1 })
        .where('id', '=', userId)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) !== 1)
        throw new WarrenError('USER_NOT_FOUND', `no user ${userId}`, 404);
      return this.components.sessions.endUserSessions(userId, undefined, trx);
    });
    this.components.events.sessionsEnded(ended);
    this.components.events.userChanged(userId);
    return password;
  }

  /** Changes a user's role; 409 LAST_ADMIN when it would leave no admin. */
  async setRole(userId: string, role: Role): Promise<UserView> {
    const user = await this.db.transaction().execute(async (trx) => {
      const target = await this.lockAdmins(trx, userId);
      if (target.role === 'admin' && role !== 'admin') this.refuseIfLastAdmin(target);
      await trx.updateTable('users').set({ role }).where('id', '=', userId).execute();
      return { ...target.row, role };
    });
    this.components.events.userChanged(userId);
    return userView(user);
  }

  /** Deletes a user with their sessions, app sessions and grants; 409 LAST_ADMIN for the last admin. */
  async remove(userId: string): Promise<UserView> {
    const { row, ended } = await this.db.transaction().execute(async (trx) => {
      const target = await this.lockAdmins(trx, userId);
      if (target.role === 'admin') this.refuseIfLastAdmin(target);
      const ids = await trx.selectFrom('sessions').select('id').where('user_id', '=', userId).execute();
      await trx.deleteFrom('users').where('id', '=', userId).execute();
      return { row: target.row, ended: ids.map((r) => r.id) };
    });
    this.components.events.sessionsEnded(ended);
    this.components.events.userChanged(userId);
    return userView(row);
  }

  /** Reads the target and the admins, locking the admin rows on PostgreSQL until the transaction ends. */
  private async lockAdmins(trx: Kysely<CloudDatabase>, userId: string) {
    let admins = trx.selectFrom('users').select('id').where('role', '=', 'admin').orderBy('id');
    if (this.components.dialect === 'postgres') admins = admins.forUpdate();
    const adminIds = (await admins.execute()).map((r) => r.id);
    const row = await trx.selectFrom('users').select(COLUMNS).where('id', '=', userId).executeTakeFirst();
    if (!row) throw new WarrenError('USER_NOT_FOUND', `no user ${userId}`, 404);
    return { row, role: row.role, adminCount: adminIds.length };
  }

  private refuseIfLastAdmin(target: { adminCount: number }): void {
    if (target.adminCount <= 1) {
      throw new WarrenError('LAST_ADMIN', 'this is the last admin: make another user an admin first', 409);
    }
  }

  /** Starts setting up TOTP: a new secret, shown once, confirmed with a code. */
  async beginTotp(userId: string): Promise<{ secret: string; otpauth_url: string }> {
    const row = await this.db.selectFrom('users').select(COLUMNS).where('id', '=', userId).executeTakeFirst();
    if (!row) throw new WarrenError('USER_NOT_FOUND', `no user ${userId}`, 404);
    if (row.totp_secret !== null) {
      throw new WarrenError('TOTP_ALREADY_ON', 'the second factor is already on; turn it off first', 409);
    }
    const secret = newTotpSecret();
    await this.db.updateTable('users').set({ totp_pending: secret }).where('id', '=', userId).execute();
    return { secret, otpauth_url: otpauthUrl(secret, this.totpIssuer, row.name) };
  }

  /** Turns TOTP on once a code from the pending secret checks out. */
  async confirmTotp(userId: string, code: string): Promise<void> {
    const row = await this.db
      .selectFrom('users')
      .select(['totp_pending', 'totp_last_step'])
      .where('id', '=', userId)
      .executeTakeFirst();
    if (!row?.totp_pending) throw new WarrenError('TOTP_NOT_STARTED', 'start with POST /api/v1/me/totp', 409);
    const step = verifyTotp(row.totp_pending, code, this.now(), Number(row.totp_last_step));
    if (step === undefined)
      throw new WarrenError('TOTP_INVALID', 'the code does not match; try the next one', 400);
    const updated = await this.db
      .updateTable('users')
      .set({ totp_secret: row.totp_pending, totp_pending: null, totp_last_step: step })
      .where('id', '=', userId)
      .where('totp_pending', '=', row.totp_pending)
      .where('totp_last_step', '<', step)
      .executeTakeFirst();
    if (Number(updated.numUpdatedRows) !== 1) {
      throw new WarrenError('TOTP_INVALID', 'the code does not match; try the next one', 400);
    }
  }

  /** Turns TOTP off (the password is asked again). */
  async disableTotp(userId: string, password: string, address: string): Promise<void> {
    const row = await this.db.selectFrom('users').select(COLUMNS).where('id', '=', userId).executeTakeFirst();
    if (!row) throw new WarrenError('USER_NOT_FOUND', `no user ${userId}`, 404);
    if (!(await verifyPassword(row.password_hash, password))) {
      this.components.limits.recordFailure(row.name, address);
      throw new WarrenError('WRONG_PASSWORD', 'the password is wrong', 403);
    }
    await this.db
      .updateTable('users')
      .set({ totp_secret: null, totp_pending: null })
      .where('id', '=', userId)
      .execute();
  }
}

function readPasswordFile(path: string): Promise<string> {
  const fail = (_kind: string, message: string) =>
    new WarrenError('ADMIN_PASSWORD_FILE_INVALID', message, 400);
  return readSmallFile(
    path,
    4096,
    'admin password file',
    (mode) => {
      if ((mode & 0o077) !== 0) {
        throw fail(
          'mode',
          `admin password file ${path} has mode 0${(mode & 0o777).toString(8)}; it must be readable by its owner alone (chmod 600 ${path})`,
        );
      }
    },
    fail,
  );
}
