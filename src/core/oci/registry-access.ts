import { Agent, type Dispatcher, interceptors } from 'undici';
import { RegistryAuth } from './registry-auth.js';
import { RegistryClient } from './registry-client.js';
import type { RegistriesConfig } from './registry-config.js';
import { Upstreams } from './upstreams.js';

/** The peer's way into its configured registries: names, accounts, authentication, a client. */
export interface RegistryAccess {
  upstreams: Upstreams;
  auth: RegistryAuth;
  client: RegistryClient;
  /** For the back-to-source fetcher: registry authentication on configured registry hosts only. */
  authFor(url: URL): RegistryAuth | undefined;
  close(): Promise<void>;
}

export function registryAccess(
  registries: RegistriesConfig,
  options: { ca?: string; connectTimeout: number; bodyTimeout: number },
): RegistryAccess {
  const upstreams = new Upstreams(registries);
  const dispatcher: Dispatcher = new Agent({
    connect: { timeout: options.connectTimeout, ...(options.ca ? { ca: options.ca } : {}) },
    bodyTimeout: options.bodyTimeout,
    headersTimeout: options.connectTimeout + options.bodyTimeout,
  }).compose(interceptors.redirect({ maxRedirections: 5 }));
  const auth = new RegistryAuth({ dispatcher, credentials: (host) => upstreams.credentials(host) });
  return {
    upstreams,
    auth,
    client: new RegistryClient(dispatcher, auth),
    authFor: (url) => (upstreams.isRegistry(url) ? auth : undefined),
    close: () => dispatcher.close(),
  };
}
