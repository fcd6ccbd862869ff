import { Code, ConnectError } from '@connectrpc/connect';
import { isDatabaseDown } from '../../core/db/database.js';
import { errorMessage, isWarrenError } from '../../core/errors.js';
import { normalizeSerial } from '../../core/trust.js';
import type { ManagerContext } from '../context.js';

/** Roles that renew their own certificates: the ones enrolment issues. */
export const RENEWABLE_ROLES: ReadonlySet<string> = new Set(['scheduler', 'seed', 'peer']);

/** Who is asking, from the verified client certificate of the RPC connection. */
export interface RenewCaller {
  name: string;
  role: string;
  serial: string;
  /** The caller's address, for the audit log. */
  address?: string;
}

/**
 * The RenewCertificate RPC: signs a new key for the caller under the name,
 * role and hosts of the certificate it is connected with — never anything
 * the request asks for, so a peer cannot renew into a scheduler. The caller's
 * certificate must be one this manager issued, live and not revoked, and at
 * least half-way through its life (components renew at two thirds; this
 * bounds the rows one component can make).
 */
export async function renewCertificate(
  ctx: ManagerContext,
  caller: RenewCaller,
  csrPem: string,
): Promise<{ certificatePem: string; caPem: string }> {
  if (!RENEWABLE_ROLES.has(caller.role)) {
    throw new ConnectError(
      `certificate role '${caller.role}' cannot be renewed (only scheduler, seed and peer certificates are)`,
      Code.PermissionDenied,
    );
  }
  try {
    const current = await ctx.ca.certificate(caller.serial);
    if (!current) {
      throw new ConnectError(
        `certificate ${normalizeSerial(caller.serial)} was not issued by this manager; enrol again`,
        Code.PermissionDenied,
      );
    }
    if (current.revoked_at) {
      throw new ConnectError(`certificate ${current.serial} is revoked`, Code.PermissionDenied);
    }
    if (current.name !== caller.name || current.role !== caller.role) {
      throw new ConnectError('the certificate does not match its record', Code.PermissionDenied);
    }
    const issuedAt = Date.parse(current.issued_at);
    const notAfter = Date.parse(current.not_after);
    const now = Date.now();
    if (now >= notAfter) throw new ConnectError('the certificate has expired', Code.PermissionDenied);
    const halfway = issuedAt + (notAfter - issuedAt) / 2;
    if (now < halfway) {
      throw new ConnectError(
        `the certificate is renewable from ${new Date(halfway).toISOString()} (half-way through its life)`,
        Code.FailedPrecondition,
      );
    }
    const issued = await ctx.ca.signCsr(
      csrPem,
      { name: current.name, role: current.role, hosts: JSON.parse(current.hosts) as string[] },
      ctx.settings.certificateLifetimeMs,
    );
    await ctx.audit.record({
      actor: `${current.role}:${current.name}`,
      action: 'certificate.renew',
      target: issued.serial,
      address: caller.address ?? '',
      detail: { previous: current.serial, not_after: issued.notAfter },
    });
    return { certificatePem: issued.certificatePem, caPem: issued.caPem };
  } catch (err) {
    throw toConnectError(err);
  }
}

function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  if (isDatabaseDown(err)) {
    return new ConnectError('the manager database is unavailable; retry later', Code.Unavailable);
  }
  if (isWarrenError(err) && err.status === 400) return new ConnectError(err.message, Code.InvalidArgument);
  return new ConnectError(`renewal failed: ${errorMessage(err)}`, Code.Internal);
}
