import type { KeyObject } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  formatPublicKeyLine,
  generateMaintainerKey,
  keyId,
  rawPublicKey,
  readPrivateKey,
  writeKeyPair,
} from '../../core/release/keys.js';

/** The store's own Ed25519 key, which signs the index; instances pin its public half. */
export interface StoreKey {
  privateKey: KeyObject;
  /** Raw 32 bytes. */
  publicKey: Buffer;
  keyId: string;
  /** `warren-ed25519 <base64> warren-store`: what operators pin. */
  line: string;
  created: boolean;
}

/**
 * Loads `<data>/store-key.pem` (refused unless mode 0600), or creates it with
 * `store-key.pub` beside it on the first start (exclusive create: two stores
 * starting on one folder do not overwrite each other's key).
 */
export async function loadOrCreateStoreKey(data: string): Promise<StoreKey> {
  const privatePath = join(data, 'store-key.pem');
  let created = false;
  if (!existsSync(privatePath)) {
    await writeKeyPair(
      { privateKey: privatePath, publicKey: join(data, 'store-key.pub') },
      generateMaintainerKey(),
      'warren-store',
    );
    created = true;
  }
  const privateKey = await readPrivateKey(privatePath);
  const publicKey = rawPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    keyId: keyId(publicKey),
    line: formatPublicKeyLine(privateKey, 'warren-store'),
    created,
  };
}
