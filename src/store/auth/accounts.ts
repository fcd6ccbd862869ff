import type { Kysely } from 'kysely';
import { checkPasswordPolicy, hashPassword } from '../../core/auth/passwords.js';
import { newOneTimePassword, newSecret, sha256Hex } from '../../core/auth/secrets.js';
import { isUniqueViolation, newId, nowIso } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { parsePublicKeyLine, readSmallFile } from '../../core/release/keys.js';
import type { StoreDatabase } from '../db/schema.js';
import { INVITATION_PREFIX } from './secrets.js';

/** Maintainer names: lowercase, as they show in URLs and the audit log. */
export const MAINTAINER_NAME = /^[a-z0-9][a-z0-9_.-]{1,39}$/;
export const ADMIN_NAME = 'admin';

export interface MaintainerRow {
  id: string;
  name: string;
  public_key: string | null;
  is_admin: number;
  official: number;
  used_bytes: number | string;
  created_at: string;
}

export interface Registration {
  name: string;
  password: string;
  /** The `warren-ed25519 <base64> <comment>` line from `warren app keygen`. */
  publicKey: string;
  invitation?: string;
}

/**
 * Maintainer accounts and invitations. Passwords are argon2id (core/auth);
 * a maintainer's Ed25519 public key is stored raw (base64) and unique, so one
 * key names one account.
 */
export class Accounts {
  constructor(
    private readonly db: Kysely<StoreDatabase>,
    private readonly options: { registration: 'invite' | 'open'; invitationTtlMs: number },
  ) {}

  byName(name: string): Promise<MaintainerRow | undefined> {
    return this.db
      .selectFrom('maintainers')
      .select(['id', 'name', 'public_key', 'is_admin', 'official', 'used_bytes', 'created_at'])
      .where('name', '=', name)
      .executeTakeFirst();
  }

  byId(id: string): Promise<MaintainerRow | undefined> {
    return this.db
      .selectFrom('maintainers')
      .select(['id', 'name', 'public_key', 'is_admin', 'official', 'used_bytes', 'created_at'])
      .where('id', '=', id)
      .executeTakeFirst();
  }

  /**
   * Creates the store admin on an empty store: with the password in
   * `passwordFile`, or a one-time password returned once (never logged).
   */
  async bootstrapAdmin(passwordFile: string): Promise<{ created: boolean; oneTimePassword?: string }> {
    const any = await this.db.selectFrom('maintainers').select('id').limit(1).executeTakeFirst();
    if (any) return { created: false };
    let password: string;
    let oneTime: string | undefined;
    if (passwordFile) {
      password = (await readSmallFile(passwordFile, 4096, 'admin password file')).replace(/\r?\n$/, '');
      checkPasswordPolicy(password, 'admin password');
    } else {
      oneTime = newOneTimePassword();
      password = oneTime;
    }
    try {
      await this.db
        .insertInto('maintainers')
        .values({
          id: newId('mnt'),
          name: ADMIN_NAME,
          password_hash: await hashPassword(password),
          public_key: null,
          is_admin: 1,
          official: 1,
          used_bytes: 0,
          created_at: nowIso(),
        })
        .execute();
    } catch (err) {
      // Another replica made it first.
      if (isUniqueViolation(err)) return { created: false };
      throw err;
    }
    return { created: true, ...(oneTime ? { oneTimePassword: oneTime } : {}) };
  }

  /** A new one-time invitation code (admin). Only its hash is kept. */
  async invite(createdBy: string): Promise<{ code: string; expires_at: string }> {
    const code = newSecret(INVITATION_PREFIX);
    const expiresAt = nowIso(this.options.invitationTtlMs);
    await this.db
      .insertInto('invitations')
      .values({
        code_hash: sha256Hex(code),
        created_by: createdBy,
        created_at: nowIso(),
        expires_at: expiresAt,
        used_at: null,
        used_by: null,
      })
      .execute();
    return { code, expires_at: expiresAt };
  }

  /**
   * Registers a maintainer. With `registration: invite` the invitation code
   * must be live; it is used up in the same transaction as the account is
   * made, so two registrations cannot share one code.
   */
  async register(r: Registration): Promise<MaintainerRow> {
    if (!MAINTAINER_NAME.test(r.name)) {
      throw new WarrenError('NAME_INVALID', `maintainer name must match ${MAINTAINER_NAME.source}`, 400);
    }
    checkPasswordPolicy(r.password);
    const key = parsePublicKeyLine(r.publicKey, 'public_key');
    const needsInvitation = this.options.registration === 'invite';
    if (needsInvitation && !r.invitation) {
      throw new WarrenError(
        'INVITATION_REQUIRED',
        'this store registers maintainers by invitation only',
        403,
      );
    }
    const hash = await hashPassword(r.password);
    const row: MaintainerRow & { password_hash: string } = {
      id: newId('mnt'),
      name: r.name,
      password_hash: hash,
      public_key: key.raw.toString('base64'),
      is_admin: 0,
      official: 0,
      used_bytes: 0,
      created_at: nowIso(),
    };
    try {
      await this.db.transaction().execute(async (trx) => {
        if (r.invitation) {
          const used = await trx
            .updateTable('invitations')
            .set({ used_at: nowIso(), used_by: r.name })
            .where('code_hash', '=', sha256Hex(r.invitation))
            .where('used_at', 'is', null)
            .where('expires_at', '>', nowIso())
            .executeTakeFirst();
          if (Number(used.numUpdatedRows) !== 1) {
            throw new WarrenError(
              'INVITATION_INVALID',
              'the invitation code is unknown, used or expired',
              403,
            );
          }
        }
        await trx.insertInto('maintainers').values(row).execute();
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const taken = await this.byName(r.name);
      if (taken) throw new WarrenError('NAME_TAKEN', `maintainer name '${r.name}' is taken`, 409);
      throw new WarrenError('KEY_IN_USE', `key ${key.keyId} belongs to another maintainer`, 409);
    }
    const { password_hash: _, ...stored } = row;
    return stored;
  }

  /** Marks a maintainer as one of the store's own (official) or not. */
  async setOfficial(
    name: string,
    official: boolean,
    db: Kysely<StoreDatabase> = this.db,
  ): Promise<MaintainerRow> {
    const result = await db
      .updateTable('maintainers')
      .set({ official: official ? 1 : 0 })
      .where('name', '=', name)
      .executeTakeFirst();
    if (Number(result.numUpdatedRows) !== 1) {
      throw new WarrenError('NOT_FOUND', `no maintainer '${name}'`, 404);
    }
    return (await db
      .selectFrom('maintainers')
      .select(['id', 'name', 'public_key', 'is_admin', 'official', 'used_bytes', 'created_at'])
      .where('name', '=', name)
      .executeTakeFirst())!;
  }
}
