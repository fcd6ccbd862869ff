import type { Kysely } from 'kysely';
import { Agent, type Dispatcher, request } from 'undici';
import { databaseError, isDatabaseDown, nowIso } from '../../core/db/database.js';
import { errorMessage, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { readBounded } from '../../core/oci/registry-auth.js';
import { MAX_SIGNATURE_FILE } from '../../core/release/signature.js';
import {
  MAX_INDEX_BYTES,
  type SeenIndex,
  type StoreIndex,
  verifyIndex,
} from '../../core/release/store-index.js';
import { ReleaseError } from '../../core/release/types.js';
import type { CloudDatabase } from '../db/schema.js';

/*
 * The store's signed index as this instance sees it: fetched from the store
 * (HTTPS, the store's CA trusted), verified against the PINNED store key and
 * against the newest index accepted before (kept in store_state): an index
 * with a lower serial (rollback), past its expiry (freeze), with the same
 * serial but other content (fork) or a bad signature is refused, the last
 * good one is kept, and the refusal's code is surfaced (routes answer 502).
 */

export interface StoreIndexOptions {
  db: Kysely<CloudDatabase>;
  log: Logger;
  /** The store's base URL, `https://host:port`. */
  storeUrl: string;
  /** The store's Ed25519 public key, raw 32 bytes, pinned out of band (config). */
  storeKey: Uint8Array;
  /** PEM of extra CAs that may sign the store's certificate (default: the system's). */
  caPem?: string;
  /** One request's limit (connect, headers and body silence). */
  timeoutMs?: number;
  now?: () => Date;
}

/** An index this instance accepted. */
export interface AcceptedIndex {
  index: StoreIndex;
  seen: SeenIndex;
  /** When it was accepted (ISO). */
  fetchedAt: string;
}

export interface IndexRefusal {
  code: string;
  message: string;
  at: string;
}

export class StoreIndexClient {
  private readonly dispatcher: Dispatcher;
  private readonly base: string;
  private refreshing: Promise<AcceptedIndex> | undefined;
  /** The last refusal (cleared by the next accepted index), for status pages. */
  lastError: IndexRefusal | undefined;

  constructor(private readonly options: StoreIndexOptions) {
    const url = new URL(options.storeUrl);
    if (url.protocol !== 'https:') {
      throw new WarrenError('CONFIG_INVALID', `the store URL ${options.storeUrl} must be https://`, 400);
    }
    this.base = url.origin;
    const timeout = options.timeoutMs ?? 30_000;
    this.dispatcher = new Agent({
      connect: { ...(options.caPem ? { ca: options.caPem } : {}), timeout },
      headersTimeout: timeout,
      bodyTimeout: timeout,
      connections: 4,
    });
  }

  /** Where the release with this digest is downloaded from (the URL the peer fetches). */
  releaseUrl(sha256: string): string {
    return `${this.base}/releases/sha256:${sha256}`;
  }

  /**
   * Fetches and verifies the store's current index; concurrent callers share
   * one fetch. Throws a 502 WarrenError whose code names the refusal
   * (INDEX_ROLLBACK, INDEX_EXPIRED, INDEX_FORK, INDEX_SIGNATURE_INVALID,
   * INDEX_MALFORMED, STORE_UNREACHABLE, …); the last good index stays.
   */
  refresh(): Promise<AcceptedIndex> {
    this.refreshing ??= this.fetchAndAccept().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  /**
   * The last accepted index from the database (verified again against the
   * pinned key, as of when it was accepted), or undefined before the first.
   */
  async lastAccepted(): Promise<AcceptedIndex | undefined> {
    const row = await this.options.db
      .selectFrom('store_state')
      .selectAll()
      .where('id', '=', 1)
      .executeTakeFirst();
    // serial 0 with an empty envelope: the migration's row, no index accepted yet.
    if (!row?.envelope) return undefined;
    const { index, seen } = verifyIndex(row.envelope, {
      storeKey: this.options.storeKey,
      now: new Date(row.fetched_at),
    });
    return { index, seen, fetchedAt: row.fetched_at };
  }

  private async fetchAndAccept(): Promise<AcceptedIndex> {
    try {
      const text = (await this.get('/api/v1/index', MAX_INDEX_BYTES, 'the store index')).toString('utf8');
      const accepted = await this.accept(text);
      this.lastError = undefined;
      return accepted;
    } catch (err) {
      const refusal = asRefusal(err);
      const code = refusal instanceof WarrenError ? refusal.code : 'DATABASE_UNAVAILABLE';
      this.lastError = { code, message: refusal.message, at: nowIso() };
      this.options.log.warn({ code, err: refusal.message }, 'store index refused');
      throw refusal;
    }
  }

  /**
   * Verifies `text` against the pinned key and the accepted state, and
   * stores it: the read of the previous state and the write of the new one
   * are one transaction, so nothing older is ever written over something newer.
   */
  async accept(text: string): Promise<AcceptedIndex> {
    const now = this.options.now?.() ?? new Date();
    return this.options.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('store_state')
        .select(['serial', 'digest'])
        .where('id', '=', 1)
        .executeTakeFirst();
      const seen =
        row && Number(row.serial) > 0 ? { serial: Number(row.serial), digest: row.digest } : undefined;
      const verified = verifyIndex(text, { storeKey: this.options.storeKey, now, ...(seen ? { seen } : {}) });
      const fetchedAt = now.toISOString();
      const values = {
        serial: verified.seen.serial,
        digest: verified.seen.digest,
        envelope: text,
        fetched_at: fetchedAt,
      };
      if (row) {
        // Conditional too: never over a newer serial, whoever wrote it.
        const updated = await trx
          .updateTable('store_state')
          .set(values)
          .where('id', '=', 1)
          .where('serial', '<=', verified.seen.serial)
          .executeTakeFirst();
        if (Number(updated.numUpdatedRows) !== 1) {
          throw new ReleaseError('INDEX_ROLLBACK', 'store index', 'a newer index was accepted meanwhile');
        }
      } else {
        await trx
          .insertInto('store_state')
          .values({ id: 1, ...values })
          .execute();
      }
      return { index: verified.index, seen: verified.seen, fetchedAt };
    });
  }

  /**
   * A release's detached signature file, directly from the store (4 KiB at
   * most). It need not come through the peer: it is ~300 bytes, and what
   * makes it trustworthy is the maintainer key the signed index names, not
   * the channel it came over.
   */
  async signature(sha256: string): Promise<string> {
    return (
      await this.get(`/releases/sha256:${sha256}.sig`, MAX_SIGNATURE_FILE, 'the release signature')
    ).toString('utf8');
  }

  private async get(path: string, max: number, what: string): Promise<Buffer> {
    let res: Dispatcher.ResponseData;
    try {
      res = await request(`${this.base}${path}`, { method: 'GET', dispatcher: this.dispatcher });
    } catch (err) {
      throw new WarrenError(
        'STORE_UNREACHABLE',
        `the store at ${this.base} is unreachable: ${errorMessage(err)}`,
        502,
      );
    }
    if (res.statusCode !== 200) {
      const body = await readBounded(res.body, 64 * 1024, what).catch(() => Buffer.alloc(0));
      let message = `the store answered ${res.statusCode} for ${what}`;
      try {
        const error = (JSON.parse(body.toString('utf8')) as { error?: { message?: string } }).error;
        if (error?.message) message += `: ${error.message}`;
      } catch {}
      throw new WarrenError(res.statusCode === 404 ? 'STORE_NOT_FOUND' : 'STORE_ERROR', message, 502);
    }
    const length = Number(res.headers['content-length']);
    if (Number.isFinite(length) && length > max) {
      res.body.destroy();
      throw new WarrenError('STORE_RESPONSE_TOO_LARGE', `${what} is ${length} bytes, more than ${max}`, 502);
    }
    try {
      return await readBounded(res.body, max, what);
    } catch (err) {
      if (err instanceof WarrenError && err.code === 'RESPONSE_TOO_LARGE') {
        throw new WarrenError('STORE_RESPONSE_TOO_LARGE', err.message, 502);
      }
      throw new WarrenError('STORE_UNREACHABLE', `reading ${what} failed: ${errorMessage(err)}`, 502);
    }
  }

  close(): Promise<void> {
    return this.dispatcher.close();
  }
}

/** Any failure to get a good index as a 502 naming it (a ReleaseError's code kept). */
function asRefusal(err: unknown): Error {
  if (isDatabaseDown(err)) return databaseError(err);
  if (err instanceof ReleaseError) return new WarrenError(err.code, err.message, 502);
  if (err instanceof WarrenError)
    return err.status === 502 ? err : new WarrenError(err.code, err.message, 502);
  return new WarrenError(
    'STORE_INDEX_FAILED',
    `the store index could not be read: ${errorMessage(err)}`,
    502,
  );
}
