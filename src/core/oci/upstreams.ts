import { readFileSync } from 'node:fs';
import { WarrenError } from '../errors.js';
import { DOCKER_HUB, DOCKER_HUB_API, isRegistryHost } from './reference.js';
import type { RegistryCredentials } from './registry-auth.js';
import type { RegistriesConfig } from './registry-config.js';

/** One registry the peer may fetch from, as configured. */
export interface Upstream {
  /** Its name in image references and in containerd's ?ns= ('docker.io' for Docker Hub). */
  host: string;
  /** API base URL without a trailing slash (`https://registry-1.docker.io`). */
  url: string;
  alias: string;
}

const ALIAS = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;

/**
 * The configured registries: found by name, alias or API host. Passwords
 * are read from their files once, at start; they are kept here only and
 * handed to the registry authentication by API host.
 */
export class Upstreams {
  private readonly byHost = new Map<string, Upstream>();
  private readonly byAlias = new Map<string, Upstream>();
  private readonly accounts = new Map<string, RegistryCredentials>();

  constructor(config: RegistriesConfig, readSecret: (file: string) => string = readPasswordFile) {
    for (const entry of config) {
      const host = entry.host === 'index.docker.io' ? DOCKER_HUB : entry.host;
      if (!isRegistryHost(host)) throw invalid(`registries: host '${entry.host}' is not a host[:port]`);
      if (this.byHost.has(host)) throw invalid(`registries: '${host}' is listed twice`);
      const url = baseUrl(entry.url || (host === DOCKER_HUB ? DOCKER_HUB_API : `https://${host}`), host);
      const upstream: Upstream = { host, url, alias: entry.alias };
      this.byHost.set(host, upstream);
      if (entry.alias) {
        if (!ALIAS.test(entry.alias))
          throw invalid(`registries: alias '${entry.alias}' must be a lowercase name`);
        if (this.byAlias.has(entry.alias)) throw invalid(`registries: alias '${entry.alias}' is used twice`);
        this.byAlias.set(entry.alias, upstream);
      }
      if (entry.passwordFile && !entry.username) {
        throw invalid(`registries: '${host}' has a passwordFile but no username`);
      }
      if (entry.username) {
        const apiHost = new URL(url).host;
        const password = entry.passwordFile ? readSecret(entry.passwordFile) : '';
        if (!this.accounts.has(apiHost)) this.accounts.set(apiHost, { username: entry.username, password });
      }
    }
  }

  host(name: string): Upstream | undefined {
    return this.byHost.get(name === 'index.docker.io' ? DOCKER_HUB : name);
  }
  alias(name: string): Upstream | undefined {
    return this.byAlias.get(name);
  }
  get size(): number {
    return this.byHost.size;
  }

  /** The account for a registry API host (`host:port` of a URL), if one is configured. */
  credentials(apiHost: string): RegistryCredentials | undefined {
    return this.accounts.get(apiHost);
  }

  /** True when `url` is on a configured registry's API host: blob fetches there get registry auth. */
  isRegistry(url: URL): boolean {
    for (const upstream of this.byHost.values()) if (new URL(upstream.url).host === url.host) return true;
    return false;
  }
}

function baseUrl(value: string, host: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalid(`registries: url '${value}' of '${host}' is not a URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid(`registries: url of '${host}' must be http(s)`);
  }
  if (url.username || url.password)
    throw invalid(`registries: url of '${host}' may not hold credentials (use passwordFile)`);
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

/** First line of the file, without its line ending; an empty or unreadable file is an error. */
export function readPasswordFile(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw invalid(
      `registries: cannot read passwordFile ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
    );
  }
  const line = text.split(/\r?\n/)[0] ?? '';
  if (!line) throw invalid(`registries: passwordFile ${file} is empty`);
  return line;
}

function invalid(message: string): WarrenError {
  return new WarrenError('CONFIG_INVALID', message, 400);
}
