import { create } from '@bufbuild/protobuf';
import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { isWarrenError } from '../../core/errors.js';
import { TokenBucket } from '../../core/token-bucket.js';
import {
  CertificateResponseSchema,
  type ManagerService,
  SyncResponseSchema,
} from '../../protocol/gen/manager_pb.js';
import type { Registration } from '../clusters/state.js';
import type { ManagerContext } from '../context.js';
import { type RpcCaller, requireCaller } from './identity.js';
import { renewCertificate } from './renew.js';

/** Roles that may call Sync and RenewCertificate. */
const COMPONENT_ROLES: ReadonlySet<string> = new Set(['scheduler', 'seed', 'peer']);
/** Longest accepted text fields of a SyncRequest. */
const LIMITS = { cluster: 63, hostname: 253, ip: 64, idc: 128, location: 256 } as const;
/** Calls a caller may make at once above its steady rate. */
const CALL_BURST = 10;
/** Callers whose buckets are kept; the oldest is forgotten beyond. */
const MAX_CALLERS = 20_000;

/**
 * Per certificate name: a misbehaving component cannot keep the manager
 * busy. The steady rate is three keepalives' worth (at least 2 per second):
 * room for a renewal and retries, nowhere near a flood.
 */
export class CallerLimiter {
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly perSecond: number;

  constructor(keepaliveIntervalMs: number) {
    this.perSecond = Math.max(2, 3_000 / keepaliveIntervalMs);
  }

  take(caller: RpcCaller): void {
    const key = `${caller.role}/${caller.name}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      if (this.buckets.size >= MAX_CALLERS) this.buckets.delete(this.buckets.keys().next().value!);
      bucket = new TokenBucket(this.perSecond, CALL_BURST);
      this.buckets.set(key, bucket);
    }
    if (!bucket.tryTake()) {
      throw new ConnectError(`too many calls from '${caller.name}'; slow down`, Code.ResourceExhausted);
    }
  }
}

/**
 * ManagerService: Sync (registration, keepalive, cluster view, revocations,
 * blocklist — all answered from the in-memory copy, so it keeps working
 * while the database is down) and RenewCertificate.
 */
export function createManagerService(
  ctx: ManagerContext,
  limiter: CallerLimiter,
): ServiceImpl<typeof ManagerService> {
  const isRevoked = (serial: string) => ctx.clusters.isRevoked(serial);
  return {
    async sync(req, hctx) {
      const caller = requireCaller(hctx, COMPONENT_ROLES, isRevoked);
      limiter.take(caller);
      for (const [field, max] of Object.entries(LIMITS)) {
        if (req[field as keyof typeof LIMITS].length > max) {
          throw new ConnectError(`${field} is longer than ${max} characters`, Code.InvalidArgument);
        }
      }
      if (req.port > 65535) throw new ConnectError('port is not a port', Code.InvalidArgument);
      const registration: Registration = {
        id: caller.name,
        role: caller.role as Registration['role'],
        cluster: req.cluster,
        hostname: req.hostname,
        // A component that does not know its address is reached where it called from.
        ip: req.ip || stripV4Mapped(caller.address),
        port: req.port,
        idc: req.idc,
        location: req.location,
      };
      let answer: ReturnType<typeof ctx.clusters.sync>;
      try {
        answer = ctx.clusters.sync(registration);
      } catch (err) {
        if (isWarrenError(err)) throw new ConnectError(err.message, Code.Unavailable);
        throw err;
      }
      return create(SyncResponseSchema, {
        clusterId: answer.cluster.id,
        clusterName: answer.cluster.name,
        clusterConfigJson: JSON.stringify(answer.cluster.config),
        schedulers: answer.schedulers,
        revokedSerials: answer.revokedSerials,
        blockedHosts: answer.blockedHosts,
        keepaliveIntervalMs: ctx.settings.keepaliveIntervalMs,
        caPem: ctx.ca.caPem,
      });
    },

    async renewCertificate(req, hctx) {
      const caller = requireCaller(hctx, COMPONENT_ROLES, isRevoked);
      limiter.take(caller);
      const renewed = await renewCertificate(ctx, caller, req.csrPem);
      return create(CertificateResponseSchema, renewed);
    },
  };
}

function stripV4Mapped(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
