import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

const CONNECT_TIMEOUT = 10_000;

/** Writes a minimal HTTP/1.1 answer on a raw socket and closes it once the client has read it. */
export function refuseSocket(socket: Duplex, status: number, reason: string, message: string): void {
  const body = `${message}\n`;
  socket.on('error', () => undefined);
  // Read and drop what the client still sends, so closing does not reset the
  // connection before it has read the answer.
  socket.resume();
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 5_000).unref();
}

/**
 * A blind TCP tunnel for CONNECT: the proxy sees only ciphertext. Both sides
 * are closed together, and when either is silent for `idleTimeout`.
 */
export function openTunnel(
  client: Socket,
  head: Buffer,
  target: { host: string; port: number },
  idleTimeout: number,
  onError: (err: Error) => void,
): void {
  const upstream = connect({ host: target.host, port: target.port });
  let established = false;
  const connectTimer = setTimeout(() => upstream.destroy(new Error('connect timed out')), CONNECT_TIMEOUT);
  upstream.once('connect', () => {
    clearTimeout(connectTimer);
    established = true;
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length > 0) upstream.write(head);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const closeBoth = () => {
    client.destroy();
    upstream.destroy();
  };
  upstream.on('error', (err) => {
    clearTimeout(connectTimer);
    if (!established) {
      refuseSocket(client, 502, 'Bad Gateway', `cannot reach ${target.host}:${target.port}: ${err.message}`);
      onError(err);
    } else closeBoth();
  });
  client.on('error', closeBoth);
  // end(), not destroy(): what the origin sent last still reaches the client.
  upstream.on('close', () => established && client.end());
  client.on('close', () => upstream.destroy());
  for (const side of [client, upstream]) {
    side.setTimeout(idleTimeout, closeBoth);
  }
}
