import { type IncomingMessage, request, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../core/log.js';
import { downstreamResponseHeaders } from './headers.js';
import { refuseSocket } from './pages.js';
import type { Upstream } from './proxy.js';

/*
 * A WebSocket (or any HTTP/1.1 Upgrade) to an app, after the gateway has
 * checked the visitor: the upgrade request goes to the app with filtered
 * headers, the app's 101 (its headers filtered too) comes back, then bytes
 * flow both ways untouched. The handshake is bounded in time.
 */

export interface UpgradeJob {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  appId: string;
  upstream: Upstream;
  headers: string[];
  handshakeTimeoutMs: number;
  log: Logger;
  /** Open tunnels, so that stopping the gateway can end them. */
  tunnels: Set<Duplex>;
}

function headLines(status: number, statusMessage: string | undefined, raw: readonly string[]): string {
  let text = `HTTP/1.1 ${status} ${statusMessage || STATUS_CODES[status] || ''}\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return `${text}\r\n`;
}

export function forwardUpgrade(job: UpgradeJob): void {
  const { socket, log } = job;
  let settled = false;
  const upstream = request({
    host: job.upstream.host,
    port: job.upstream.port,
    method: job.req.method,
    path: job.req.url,
    headers: job.headers,
    agent: false,
  });
  const timer = setTimeout(() => {
    if (settled) return;
    settled = true;
    upstream.destroy();
    log.warn({ event: 'gateway_upgrade_error', app: job.appId, reason: 'handshake-timeout' });
    refuseSocket(socket, 504, 'APP_TIMEOUT', `app ${job.appId} did not answer the upgrade in time`);
  }, job.handshakeTimeoutMs);
  const onClientGone = () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    upstream.destroy();
  };
  socket.once('close', onClientGone);

  upstream.once('upgrade', (upRes: IncomingMessage, upSocket: Socket, upHead: Buffer) => {
    if (settled) {
      upSocket.destroy();
      return;
    }
    settled = true;
    clearTimeout(timer);
    socket.off('close', onClientGone);
    const headers = downstreamResponseHeaders(upRes.rawHeaders, { upgrade: true });
    socket.write(headLines(upRes.statusCode ?? 101, upRes.statusMessage, headers));
    if (upHead.length > 0) socket.write(upHead);
    if (job.head.length > 0) upSocket.write(job.head);
    upSocket.setNoDelay(true);
    (socket as Socket).setNoDelay?.(true);
    job.tunnels.add(socket);
    const end = () => {
      job.tunnels.delete(socket);
      socket.destroy();
      upSocket.destroy();
    };
    upSocket.once('error', end);
    upSocket.once('close', end);
    socket.once('error', end);
    socket.once('close', end);
    upSocket.pipe(socket);
    socket.pipe(upSocket);
  });

  // The app did not switch protocols: pass its answer on and close.
  upstream.once('response', (upRes: IncomingMessage) => {
    if (settled) {
      upRes.destroy();
      return;
    }
    settled = true;
    clearTimeout(timer);
    const headers = downstreamResponseHeaders(upRes.rawHeaders);
    socket.write(
      headLines(upRes.statusCode ?? 502, upRes.statusMessage, [
        ...withoutLength(headers),
        'Connection',
        'close',
      ]),
    );
    upRes.pipe(socket);
    upRes.once('error', () => socket.destroy());
  });

  upstream.once('error', (err: NodeJS.ErrnoException) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    log.warn({
      event: 'gateway_upgrade_error',
      app: job.appId,
      reason: err.code ?? 'error',
      message: err.message,
    });
    refuseSocket(socket, 502, 'APP_NOT_ANSWERING', `app ${job.appId} is not answering`);
  });
  upstream.end();
}

/** Headers without Content-Length: the body is passed on decoded and ends when the socket closes. */
function withoutLength(raw: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() !== 'content-length') out.push(raw[i]!, raw[i + 1]!);
  }
  return out;
}
