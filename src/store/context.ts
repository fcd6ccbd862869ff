import type { Kysely } from 'kysely';
import type { AuditLog } from '../core/db/audit-log.js';
import type { Logger } from '../core/log.js';
import type { Accounts } from './auth/accounts.js';
import type { StoreAuth } from './auth/auth-service.js';
import type { StoreSettings } from './config.js';
import type { StoreDb } from './db/database.js';
import type { StoreDatabase } from './db/schema.js';
import type { IndexService } from './index/index-service.js';
import type { StoreKey } from './index/store-key.js';
import type { BlobStore } from './releases/blobs.js';

/** The store's services, built once by store.ts and handed to every route module. */
export interface StoreContext {
  settings: StoreSettings;
  log: Logger;
  database: StoreDb;
  db: Kysely<StoreDatabase>;
  audit: AuditLog<StoreDatabase>;
  accounts: Accounts;
  auth: StoreAuth;
  blobs: BlobStore;
  key: StoreKey;
  index: IndexService;
}

/** Marks the index out of date; call inside the transaction that makes the change. */
export async function bumpIndexGeneration(trx: Kysely<StoreDatabase>): Promise<void> {
  await trx
    .updateTable('index_state')
    .set((eb) => ({ generation: eb('generation', '+', 1) }))
    .where('id', '=', 1)
    .execute();
}
