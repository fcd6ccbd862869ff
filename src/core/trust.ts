import { X509Certificate } from 'node:crypto';
import { EventEmitter } from 'node:events';

/** Longest lists accepted from the manager: a bound on memory, far above real use. */
const MAX_ENTRIES = 100_000;

/**
 * What a component learns from the manager about whom not to trust: serial
 * numbers of revoked certificates (connections presenting one are refused) and
 * hosts that must never be chosen as parents. Filled by the manager sync loop,
 * read by TLS servers and clients and by the scheduler's evaluator. Holds the
 * last good copy while the manager is unreachable.
 */
export class TrustState extends EventEmitter<{ change: [] }> {
  private revoked = new Set<string>();
  private blocked = new Set<string>();

  /** Replaces both lists; emits 'change' when either differs. */
  update(revokedSerials: Iterable<string>, blockedHosts: Iterable<string>): void {
    const revoked = new Set([...revokedSerials].slice(0, MAX_ENTRIES).map(normalizeSerial));
    const blocked = new Set([...blockedHosts].slice(0, MAX_ENTRIES));
    const changed = !sameSet(revoked, this.revoked) || !sameSet(blocked, this.blocked);
    this.revoked = revoked;
    this.blocked = blocked;
    if (changed) this.emit('change');
  }

  isRevokedSerial(serial: string): boolean {
    return this.revoked.has(normalizeSerial(serial));
  }

  /** True when the PEM or DER certificate's serial is revoked. */
  isRevokedCertificate(cert: string | Buffer): boolean {
    if (this.revoked.size === 0) return false;
    return this.isRevokedSerial(new X509Certificate(cert).serialNumber);
  }

  isBlockedHost(hostId: string): boolean {
    return this.blocked.has(hostId);
  }

  get revokedSerials(): string[] {
    return [...this.revoked];
  }

  get blockedHosts(): string[] {
    return [...this.blocked];
  }
}

/** Serials compare as lower-case hex without leading zeros or colons. */
export function normalizeSerial(serial: string): string {
  return serial
    .replaceAll(':', '')
    .toLowerCase()
    .replace(/^0+(?=.)/, '');
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  if (a.size !== b.size) return false;
  for (const value of a) if (!b.has(value)) return false;
  return true;
}
