import type { Hash } from 'node:crypto';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { type buildConnector as BuildConnector, buildConnector, type Dispatcher, Pool } from 'undici';
import { WarrenError } from '../../core/errors.js';
import { formatHostPort } from '../../core/net.js';
import { expectName, type TlsMaterial } from '../../core/tls.js';
import type { TrustState } from '../../core/trust.js';

/** Where a parent's upload server is and which certificate name it must present. */
export interface ParentAddress {
  hostId: string;
  ip: string;
  port: number;
}

/** Lines of a parent's `/tasks/{id}/pieces` stream. */
export type AvailabilityEvent = { pieces: number[] } | { piece: number } | { done: true };

const MAX_LINE = 1024 * 1024;

/**
 * A keep-alive pool of mTLS connections to one parent's upload server. The
 * parent must present a CA-signed certificate naming the host the scheduler
 * announced, so a peer cannot stand in for another, and not a revoked one.
 */
export class ParentClient {
  private readonly pool: Pool;
  /** Serial of the certificate the parent last presented (hex, as TLS reports it). */
  serial: string | undefined;

  constructor(
    readonly address: ParentAddress,
    tls: TlsMaterial,
    connections: number,
    trust?: TrustState,
  ) {
    const named = expectName(address.hostId);
    const checkServerIdentity = (host: string, cert: PeerCertificate): Error | undefined => {
      const wrongName = named(host, cert);
      if (wrongName) return wrongName;
      this.serial = cert.serialNumber;
      if (trust?.isRevokedSerial(cert.serialNumber)) {
        return new Error(`parent ${address.hostId} presents a revoked certificate (${cert.serialNumber})`);
      }
      return undefined;
    };
    this.pool = new Pool(`https://${formatHostPort(address.ip, address.port)}`, {
      connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: 15_000,
      bodyTimeout: 30_000,
      connect: currentConnector(tls, { timeout: 5_000, checkServerIdentity }),
    });
  }

  /**
   * Reads bytes [start, start + into.length) of a task into `into`, feeding
   * each chunk to `hash` while it is still in cache. Uses undici's dispatch
   * API: one callback per chunk, no stream or promise per chunk (this is the
   * hottest loop of a download).
   */
  fetchRange(taskId: string, start: number, into: Buffer, hash: Hash, signal?: AbortSignal): Promise<void> {
    const end = start + into.length - 1;
    const hostId = this.address.hostId;
    return new Promise<void>((resolve, reject) => {
      let status = 0;
      let filled = 0;
      let errorBody = '';
      let failed: Error | undefined;
      let onAbort: (() => void) | undefined;
      const settle = () => {
        if (onAbort) signal?.removeEventListener('abort', onAbort);
      };
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart(controller) {
          if (!signal) return;
          onAbort = () => controller.abort(signal.reason);
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
        },
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(controller, chunk) {
          if (status !== 206) {
            if (errorBody.length < 200) errorBody += chunk.toString('utf8');
            return;
          }
          if (filled + chunk.length > into.length) {
            failed = new WarrenError('PARENT_TOO_LONG', `parent ${hostId} sent more than was asked`, 502);
            controller.abort(failed);
            return;
          }
          chunk.copy(into, filled);
          hash.update(chunk);
          filled += chunk.length;
        },
        onResponseEnd() {
          settle();
          if (status !== 206) {
            const code = status === 503 ? 'PARENT_BUSY' : status === 404 ? 'PARENT_NOT_HELD' : 'PARENT_ERROR';
            reject(
              new WarrenError(code, `parent ${hostId} answered ${status}: ${errorBody.slice(0, 200)}`, 502),
            );
          } else if (filled !== into.length) {
            reject(
              new WarrenError('PARENT_SHORT', `parent ${hostId} sent ${filled} of ${into.length} bytes`, 502),
            );
          } else {
            resolve();
          }
        },
        onResponseError(_controller, err) {
          settle();
          reject(failed ?? err);
        },
      };
      this.pool.dispatch(
        { path: `/tasks/${taskId}`, method: 'GET', headers: { range: `bytes=${start}-${end}` } },
        handler,
      );
    });
  }

  /** Follows the parent's piece availability for a task until done, error or abort. */
  async watch(
    taskId: string,
    onEvent: (event: AvailabilityEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = await this.pool.request({
      path: `/tasks/${taskId}/pieces`,
      method: 'GET',
      signal,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) {
      await res.body.text().catch(() => '');
      const code = res.statusCode === 404 ? 'PARENT_NO_TASK' : 'PARENT_ERROR';
      throw new WarrenError(code, `parent ${this.address.hostId} answered ${res.statusCode} for pieces`, 502);
    }
    let pending = '';
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      pending += chunk.toString('utf8');
      if (pending.length > MAX_LINE) throw new WarrenError('PARENT_ERROR', 'piece stream line too long', 502);
      let nl = pending.indexOf('\n');
      while (nl >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line) onEvent(parseEvent(line, this.address.hostId));
        nl = pending.indexOf('\n');
      }
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}

/**
 * A connector that uses the certificate `tls` holds when each connection is
 * made (after a renewal, new connections present the new one).
 */
function currentConnector(
  tls: TlsMaterial,
  options: Pick<ConnectionOptions, 'timeout' | 'checkServerIdentity'>,
): BuildConnector.connector {
  let built: { cert: string; connect: BuildConnector.connector } | undefined;
  return (opts, callback) => {
    const cert = tls.cert;
    if (built?.cert !== cert) {
      built = { cert, connect: buildConnector({ ...options, ca: tls.ca, cert, key: tls.key }) };
    }
    return built.connect(opts, callback);
  };
}

function parseEvent(line: string, hostId: string): AvailabilityEvent {
  const value = JSON.parse(line) as Record<string, unknown>;
  if (Array.isArray(value.pieces) && value.pieces.every((n) => Number.isInteger(n))) {
    return { pieces: value.pieces as number[] };
  }
  if (Number.isInteger(value.piece)) return { piece: value.piece as number };
  if (value.done === true) return { done: true };
  throw new WarrenError('PARENT_ERROR', `parent ${hostId} sent an unreadable piece event`, 502);
}
