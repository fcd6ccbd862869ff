import { readFileSync } from 'node:fs';
import type { Kysely, Transaction } from 'kysely';
import { checkPasswordPolicy, hashPassword } from '../../core/auth/passwords.js';
import { newOneTimePassword } from '../../core/auth/secrets.js';
import { type Dialect, newId } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { afterCursor, decodeCursor, type PageQuery, toPage } from '../../core/http/pagination.js';
import type { Database, UserRole } from '../db/schema.js';

/** User names: lower case, start with a letter, at most 63 characters. */
export const USER_NAME_PATTERN = '^[a-z][a-z0-9._-]{0,62}$';
export const USER_ROLES: readonly UserRole[] = ['root', 'guest'];
/** The user made at first start. */
export const FIRST_ROOT_NAME = 'root';

/** A user as the API shows it: never the password hash. */
export interface UserView {
  id: string;
  name: string;
  role: UserRole;
  must_change_password: boolean;
  created_at: string;
  password_changed_at: string;
}

type UserRow = Database['users'];

function view(row: UserRow): UserView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    must_change_password: row.must_change_password === 1,
    created_at: row.created_at,
    password_changed_at: row.password_changed_at,
  };
}

/** Users and their roles; there is always at least one root. */
export class UserStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: Dialect,
    /** Called after a user's role or existence changed, so cached principals go. */
    private readonly changed: (userId: string) => void,
  ) {}

  /**
   * At first start (no users), creates `root`. Its password comes from
   * `passwordFile` when set; otherwise it is a random one-time password,
   * returned here to be shown once, that must be changed at first login.
   * Replicas starting together on one database race here: the unique name
   * lets one insert win; the others return undefined.
   */
  async bootstrapRoot(passwordFile: string): Promise<{ oneTimePassword?: string; created: boolean }> {
    const any = await this.db.selectFrom('users').select('id').limit(1).executeTakeFirst();
    if (any) return { created: false };
    const fromFile = passwordFile ? readRootPassword(passwordFile) : undefined;
    const password = fromFile ?? newOneTimePassword();
    const now = new Date().toISOString();
    const inserted = await this.db
      .insertInto('users')
      .values({
        id: newId('usr'),
        name: FIRST_ROOT_NAME,
        role: 'root',
        password_hash: await hashPassword(password),
        created_at: now,
        password_changed_at: now,
        must_change_password: fromFile === undefined ? 1 : 0,
      })
      .onConflict((oc) => oc.column('name').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return { created: false };
    return fromFile === undefined ? { created: true, oneTimePassword: password } : { created: true };
  }

  async create(input: { name: string; role: UserRole; password: string }): Promise<UserView> {
    checkUserName(input.name);
    checkPasswordPolicy(input.password);
    const now = new Date().toISOString();
    const row: UserRow = {
      id: newId('usr'),
      name: input.name,
      role: input.role,
      password_hash: await hashPassword(input.password),
      created_at: now,
      password_changed_at: now,
      must_change_password: 0,
    };
    const inserted = await this.db
      .insertInto('users')
      .values(row)
      .onConflict((oc) => oc.column('name').doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) throw new WarrenError('USER_EXISTS', `a user named '${input.name}' already exists`, 409);
    return view(row);
  }

  async get(id: string): Promise<UserView> {
    const row = await this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw notFound(id);
    return view(row);
  }

  /** Users ordered by name. */
  async list(page: PageQuery): Promise<{ items: UserView[]; next_cursor: string | null }> {
    const after = decodeCursor(page.cursor);
    let query = this.db.selectFrom('users').selectAll();
    if (after) {
      query = query.where(afterCursor('name', 'id', '>', after));
    }
    const rows = await query
      .orderBy('name')
      .orderBy('id')
      .limit(page.limit + 1)
      .execute();
    return toPage(rows, page.limit, (r) => [r.name, r.id], view);
  }

  /** Changes a role; refuses to demote the last root. */
  async setRole(id: string, role: UserRole): Promise<{ before: UserView; after: UserView }> {
    const result = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw notFound(id);
      if (row.role === 'root' && role !== 'root') await this.refuseLastRoot(trx, 'demote');
      await trx.updateTable('users').set({ role }).where('id', '=', id).execute();
      return { before: view(row), after: view({ ...row, role }) };
    });
    this.changed(id);
    return result;
  }

  /** Deletes a user with their sessions and tokens; refuses to delete the last root. */
  async remove(id: string): Promise<UserView> {
    const removed = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
      if (!row) throw notFound(id);
      if (row.role === 'root') await this.refuseLastRoot(trx, 'delete');
      // Explicitly, not only by cascade: SQLite enforces foreign keys per connection.
      await trx.deleteFrom('sessions').where('user_id', '=', id).execute();
      await trx.deleteFrom('tokens').where('user_id', '=', id).execute();
      await trx.deleteFrom('users').where('id', '=', id).execute();
      return view(row);
    });
    this.changed(id);
    return removed;
  }

  /**
   * Throws when fewer than two roots exist. On PostgreSQL the root rows are
   * locked, so two concurrent demotions of the last two roots cannot both pass
   * (the second re-reads after the first commits); SQLite runs one
   * transaction at a time anyway.
   */
  private async refuseLastRoot(trx: Transaction<Database>, what: 'demote' | 'delete'): Promise<void> {
    let query = trx.selectFrom('users').select('id').where('role', '=', 'root');
    if (this.dialect === 'postgres') query = query.forUpdate();
    const roots = await query.execute();
    if (roots.length <= 1) {
      throw new WarrenError('LAST_ROOT', `cannot ${what} the last user with the 'root' role`, 409);
    }
  }
}

export function checkUserName(name: string): void {
  if (!new RegExp(USER_NAME_PATTERN).test(name)) {
    throw new WarrenError(
      'BAD_REQUEST',
      `user name '${name.slice(0, 64)}' must match ${USER_NAME_PATTERN} (lower case, starting with a letter)`,
      400,
    );
  }
}

function notFound(id: string): WarrenError {
  return new WarrenError('NOT_FOUND', `no user with id '${id}'`, 404);
}

function readRootPassword(file: string): string {
  let password: string;
  try {
    password = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration key 'rootPasswordFile' (WARREN_ROOT_PASSWORD_FILE): cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? err})`,
      400,
    );
  }
  try {
    checkPasswordPolicy(password, `password in ${file}`);
  } catch (err) {
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration key 'rootPasswordFile': ${(err as Error).message}`,
      400,
    );
  }
  return password;
}
