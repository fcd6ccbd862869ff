import { WarrenError } from './errors.js';

/** Parses 'host:port', '[::1]:port' or ':port' (all interfaces) into parts. */
export function parseHostPort(value: string, what = 'address'): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = Number(match?.[3]);
  if (!match || port > 65535) {
    throw new WarrenError('BAD_ADDRESS', `${what} '${value}' is not of the form host:port`, 400);
  }
  return { host: match[1] ?? (match[2] || '0.0.0.0'), port };
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
