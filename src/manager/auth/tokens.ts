import type { Kysely } from 'kysely';
import { sha256Hex } from '../../core/auth/secrets.js';
import { newId } from '../../core/db/database.js';
import { WarrenError } from '../../core/errors.js';
import { afterCursor, decodeCursor, type PageQuery, toPage } from '../../core/http/pagination.js';
import type { Database } from '../db/schema.js';
import type { Principal } from '../http/access.js';
import { newEnrollSecret, newSecret, TOKEN_PREFIX } from './secrets.js';
import {
  checkScopes,
  ENROLL_DEFAULT_LIFETIME_MS,
  ENROLL_MAX_LIFETIME_MS,
  type ExpiryRequest,
  formatScopes,
  parseScopes,
  resolveExpiry,
  type TokenScope,
} from './token-policy.js';

/** Live (unrevoked, unexpired) tokens one user may hold. */
const TOKENS_PER_USER = 1_000;

/** A token as the API lists it: never its secret or hash. */
export interface TokenView {
  id: string;
  name: string;
  owner: string;
  scopes: TokenScope[];
  created_at: string;
  expires_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
  /** After a rotate: the previous secret works until then. */
  previous_valid_until: string | null;
}

export interface CreateTokenRequest extends ExpiryRequest {
  name: string;
  scopes: string[];
}

type TokenRow = Database['tokens'];

function view(row: TokenRow, owner: string): TokenView {
  return {
    id: row.id,
    name: row.name,
    owner,
    scopes: parseScopes(row.scopes),
    created_at: row.created_at,
    expires_at: row.expires_at,
    last_used_at: row.last_used_at,
    revoked_at: row.revoked_at,
    previous_valid_until: row.previous_valid_until,
  };
}

/**
 * Personal access tokens (`wrp_…`: scopes read/job/cluster) and join tokens
 * (`wrj_…`: scope enroll, root only, at most 7 days). Secrets are returned
 * once, by create and rotate, and stored as SHA-256.
 */
export class TokenStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly settings: { tokenMaxLifetimeMs: number; rotationGraceMs: number },
    private readonly caFingerprint: string,
    /** Called after a token changed, so its cached principal goes. */
    private readonly changed: (tokenId: string) => void,
  ) {}

  async create(owner: Principal, request: CreateTokenRequest): Promise<{ token: string; view: TokenView }> {
    const { scopes, enroll } = checkScopes(request.scopes);
    if (enroll && owner.role !== 'root') {
      throw new WarrenError('FORBIDDEN', "join tokens (scope 'enroll') are for the 'root' role only", 403);
    }
    const now = Date.now();
    const expiresAt = resolveExpiry(
      request,
      enroll
        ? {
            maxMs: Math.min(ENROLL_MAX_LIFETIME_MS, this.settings.tokenMaxLifetimeMs),
            defaultMs: ENROLL_DEFAULT_LIFETIME_MS,
          }
        : { maxMs: this.settings.tokenMaxLifetimeMs },
      now,
    );
    const live = await this.db
      .selectFrom('tokens')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('user_id', '=', owner.userId)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', new Date(now).toISOString())
      .executeTakeFirst();
    if (Number(live?.n ?? 0) >= TOKENS_PER_USER) {
      throw new WarrenError(
        'TOO_MANY_TOKENS',
        `a user may hold at most ${TOKENS_PER_USER} live tokens; revoke some first`,
        409,
      );
    }
    const token = this.newSecretFor(enroll);
    const row: TokenRow = {
      id: newId('tok'),
      user_id: owner.userId,
      name: request.name,
      scopes: formatScopes(scopes),
      secret_hash: sha256Hex(token),
      previous_hash: null,
      previous_valid_until: null,
      created_at: new Date(now).toISOString(),
      expires_at: expiresAt,
      last_used_at: null,
      revoked_at: null,
    };
    await this.db.insertInto('tokens').values(row).execute();
    return { token, view: view(row, owner.userName) };
  }

  /** The caller's tokens, or everyone's (`all`, root only), oldest first. */
  async list(
    caller: Principal,
    options: PageQuery & { all?: boolean },
  ): Promise<{ items: TokenView[]; next_cursor: string | null }> {
    if (options.all && caller.role !== 'root') {
      throw new WarrenError('FORBIDDEN', "listing every user's tokens needs the 'root' role", 403);
    }
    const after = decodeCursor(options.cursor);
    let query = this.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .select('users.name as owner');
    if (!options.all) query = query.where('tokens.user_id', '=', caller.userId);
    if (after) {
      query = query.where(afterCursor('tokens.created_at', 'tokens.id', '>', after));
    }
    const rows = await query
      .orderBy('tokens.created_at')
      .orderBy('tokens.id')
      .limit(options.limit + 1)
      .execute();
    return toPage(
      rows,
      options.limit,
      (r) => [r.created_at, r.id],
      (r) => view(r, r.owner),
    );
  }

  /** Revokes a token of the caller's (root: anyone's). Revoking twice keeps the first time. */
  async revoke(caller: Principal, id: string): Promise<TokenView> {
    const { row, owner } = await this.find(caller, id);
    if (!row.revoked_at) {
      row.revoked_at = new Date().toISOString();
      await this.db
        .updateTable('tokens')
        .set({ revoked_at: row.revoked_at })
        .where('id', '=', id)
        .where('revoked_at', 'is', null)
        .execute();
    }
    this.changed(id);
    return view(row, owner);
  }

  /**
   * A new secret for one of the caller's own tokens; the previous one keeps
   * working for `auth.rotationGrace`, so clients can be switched over without
   * an outage. Only the owner may rotate: rotating hands out the secret.
   */
  async rotate(caller: Principal, id: string): Promise<{ token: string; view: TokenView }> {
    const { row, owner } = await this.find(caller, id);
    if (row.user_id !== caller.userId) {
      throw new WarrenError('FORBIDDEN', 'only the owner of a token may rotate it', 403);
    }
    const now = Date.now();
    if (row.revoked_at || Date.parse(row.expires_at) <= now) {
      throw new WarrenError('TOKEN_INACTIVE', `token '${id}' is revoked or expired; create a new one`, 409);
    }
    const token = this.newSecretFor(parseScopes(row.scopes).includes('enroll'));
    const previousValidUntil = new Date(
      Math.min(now + this.settings.rotationGraceMs, Date.parse(row.expires_at)),
    ).toISOString();
    const update = await this.db
      .updateTable('tokens')
      .set({
        secret_hash: sha256Hex(token),
        previous_hash: row.secret_hash,
        previous_valid_until: previousValidUntil,
      })
      .where('id', '=', id)
      // A concurrent rotate of the same token loses rather than orphaning a secret.
      .where('secret_hash', '=', row.secret_hash)
      .executeTakeFirst();
    if (Number(update.numUpdatedRows) !== 1) {
      throw new WarrenError('CONFLICT', `token '${id}' was rotated at the same time; try again`, 409);
    }
    this.changed(id);
    return {
      token,
      view: view({ ...row, previous_valid_until: previousValidUntil }, owner),
    };
  }

  private newSecretFor(enroll: boolean): string {
    return enroll ? newEnrollSecret(this.caFingerprint) : newSecret(TOKEN_PREFIX);
  }

  /** The token if the caller may act on it; 404 otherwise, so ids of others' tokens are not confirmed. */
  private async find(caller: Principal, id: string): Promise<{ row: TokenRow; owner: string }> {
    const found = await this.db
      .selectFrom('tokens')
      .innerJoin('users', 'users.id', 'tokens.user_id')
      .selectAll('tokens')
      .select('users.name as owner')
      .where('tokens.id', '=', id)
      .executeTakeFirst();
    if (!found || (found.user_id !== caller.userId && caller.role !== 'root')) {
      throw new WarrenError('NOT_FOUND', `no token with id '${id}'`, 404);
    }
    const { owner, ...row } = found;
    return { row, owner };
  }
}
