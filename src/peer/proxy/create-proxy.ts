import { readFile } from 'node:fs/promises';
import { WarrenError } from '../../core/errors.js';
import { parseHostPort } from '../../core/net.js';
import { parseDuration } from '../../core/units.js';
import type { PeerConfig } from '../config.js';
import { LeafCertificates } from './leaf-certs.js';
import { type ProxyComponents, ProxyServer } from './proxy-server.js';
import { AllowList, compileRules } from './rules.js';

/**
 * Builds and starts the proxy from `proxy:` in the peer's configuration;
 * everything in it is checked here, at start, so a bad rule or CA stops the
 * peer with a message that names it. HTTPS origins are verified with the
 * system's CAs plus `source.caFile`, as for downloads.
 */
export async function startProxy(config: PeerConfig, components: ProxyComponents): Promise<ProxyServer> {
  const proxy = await createProxy(
    config.proxy,
    components,
    config.source.caFile ? await readFile(config.source.caFile, 'utf8') : undefined,
  );
  await proxy.start();
  return proxy;
}

/** The proxy server for `proxy:`, not yet listening. */
export async function createProxy(
  config: PeerConfig['proxy'],
  components: ProxyComponents,
  extraCa: string | undefined,
): Promise<ProxyServer> {
  const { host, port } = parseHostPort(config.listen, 'proxy.listen');
  const intercept = config.intercept;
  let leaves: LeafCertificates | undefined;
  if (intercept.hosts.length > 0) {
    if (!intercept.caCertFile || !intercept.caKeyFile) {
      throw new WarrenError(
        'CONFIG_INVALID',
        'proxy.intercept.hosts needs proxy.intercept.caCertFile and caKeyFile (a CA your clients trust)',
        400,
      );
    }
    leaves = await LeafCertificates.load(intercept.caCertFile, intercept.caKeyFile);
  }
  return new ProxyServer(components, {
    host,
    port,
    rules: compileRules(config.rules),
    allow: new AllowList(config.allow),
    intercept: leaves ? { hosts: new Set(intercept.hosts.map((h) => h.toLowerCase())), leaves } : undefined,
    connectPorts: new Set(config.connectPorts),
    maxConnections: config.maxConnections,
    idleTimeout: parseDuration(config.idleTimeout, 'proxy.idleTimeout'),
    extraCa,
  });
}
