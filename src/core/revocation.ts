import type { TLSSocket, Server as TlsServer } from 'node:tls';
import type { CertificateKeeper } from './certificates.js';
import type { Logger } from './log.js';
import type { TlsMaterial } from './tls.js';
import type { TrustState } from './trust.js';

/**
 * Refuses mutual-TLS clients whose certificate is revoked: a connection is
 * cut as soon as its handshake completes (before a request is read), and
 * connections already open are cut when the revocation list changes.
 * Expired certificates need nothing here: the TLS handshake refuses them.
 * Returns a function that stops the guard.
 */
export function refuseRevokedClients(
  server: TlsServer,
  trust: TrustState,
  options: { log: Logger; onRefused?: () => void },
): () => void {
  const open = new Map<TLSSocket, string>();
  const cut = (socket: TLSSocket, serial: string) => {
    options.onRefused?.();
    options.log.info({ remote: socket.remoteAddress, serial }, 'connection with a revoked certificate cut');
    socket.destroy();
  };
  const onConnection = (socket: TLSSocket) => {
    const serial = socket.getPeerCertificate()?.serialNumber;
    if (!serial) return;
    if (trust.isRevokedSerial(serial)) return cut(socket, serial);
    open.set(socket, serial);
    socket.once('close', () => open.delete(socket));
  };
  const onChange = () => {
    for (const [socket, serial] of open) {
      if (trust.isRevokedSerial(serial)) {
        open.delete(socket);
        cut(socket, serial);
      }
    }
  };
  server.on('secureConnection', onConnection);
  trust.on('change', onChange);
  return () => {
    server.off('secureConnection', onConnection);
    trust.off('change', onChange);
    open.clear();
  };
}

/**
 * Serves a renewed certificate on new connections without a restart (open
 * ones keep theirs: it stays valid until it expires).
 */
export function useCertificate(server: TlsServer, material: TlsMaterial): void {
  server.setSecureContext({
    ca: material.ca,
    cert: material.cert,
    key: material.key,
    minVersion: 'TLSv1.2',
  });
}

/**
 * Everything a component's mTLS server needs from the manager's CA: revoked
 * clients refused (with `trust`) and renewed certificates served (with
 * `keeper`). Returns a function that undoes both.
 */
export function protectServer(
  server: TlsServer,
  options: {
    trust?: TrustState;
    keeper?: CertificateKeeper;
    log: Logger;
    onRefused?: () => void;
  },
): () => void {
  const stopGuard = options.trust ? refuseRevokedClients(server, options.trust, options) : () => {};
  const onRenewed = (material: TlsMaterial) => useCertificate(server, material);
  options.keeper?.on('renewed', onRenewed);
  return () => {
    stopGuard();
    options.keeper?.off('renewed', onRenewed);
  };
}
