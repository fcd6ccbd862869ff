import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';
import { collect } from '../option-parsers.js';

/** Roles a join token enrols (kept here so that `warren --help` loads no X.509 code). */
const ENROLL_ROLES = ['peer', 'seed', 'scheduler'] as const;
/** Largest answer read from the manager before anything is trusted. */
const MAX_ANSWER = 64 * 1024;

interface EnrollFlags {
  manager: string;
  tokenFile?: string;
  tokenStdin?: boolean;
  role: string;
  name?: string;
  host: string[];
  tlsDir: string;
  force?: boolean;
  json?: boolean;
}

/**
 * `warren enroll`: joins a component to a manager. The join token is a
 * secret, so it never is a flag value: it comes from a file, stdin or
 * `WARREN_JOIN_TOKEN`. The CA is pinned by the fingerprint in the token
 * before the token is sent anywhere; the key is made here and never leaves.
 */
export function registerEnrollCommand(program: Command): void {
  program
    .command('enroll')
    .description('get a certificate from a manager with a join token (pins its CA by fingerprint)')
    .requiredOption('--manager <url>', 'manager REST address, e.g. https://manager.lan:8443')
    .requiredOption('--role <role>', `one of ${ENROLL_ROLES.join(', ')}`)
    .requiredOption('--tls-dir <dir>', 'where to write ca.crt, tls.crt and tls.key (0600)')
    .option('--token-file <file>', 'file holding the join token')
    .option('--token-stdin', 'read the join token from stdin')
    .option('--name <name>', 'component name (certificate CN); default <role>-<hostname>')
    .option('--host <host>', 'DNS name or IP the component is reached at (repeatable)', collect, [])
    .option('--force', 'replace a certificate already in --tls-dir')
    .option('--json', 'print the result as JSON')
    .action(async (flags: EnrollFlags) => {
      const result = await enroll(flags);
      if (flags.json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else {
        process.stdout.write(
          `enrolled ${result.role} '${result.name}' (certificate ${result.serial}, valid until ${result.not_after}); written to ${result.tls_dir}\n`,
        );
      }
    });
}

async function enroll(flags: EnrollFlags) {
  if (!(ENROLL_ROLES as readonly string[]).includes(flags.role)) {
    throw new WarrenError('BAD_ROLE', `--role '${flags.role}' is not one of ${ENROLL_ROLES.join(', ')}`, 400);
  }
  if (existsSync(join(flags.tlsDir, 'tls.crt')) && !flags.force) {
    throw new WarrenError(
      'TLS_EXISTS',
      `${flags.tlsDir} already holds a certificate; pass --force to replace it`,
      409,
    );
  }
  const base = flags.manager.replace(/\/+$/, '');
  if (!/^https:\/\/[^/]+$/.test(base)) {
    throw new WarrenError('BAD_MANAGER', `--manager '${flags.manager}' must be https://host:port`, 400);
  }
  const token = await readJoinToken(flags);
  const [{ rootCertificates }, { Agent, request }, certificates, { expectRole, writeTlsDir }] =
    await Promise.all([
      import('node:tls'),
      import('undici'),
      import('../../core/certificates.js'),
      import('../../core/tls.js'),
    ]);
  const fingerprint = certificates.joinTokenFingerprint(token);

  // 1. The CA, fetched trusting nothing: it is judged by the token's fingerprint alone.
  const blind = new Agent({ connect: { rejectUnauthorized: false } });
  let caPem: string;
  try {
    const answer = await callManager(request, blind, `${base}/api/v1/ca`, 'GET');
    caPem = String((answer as { certificate?: unknown }).certificate ?? '');
  } finally {
    await blind.close();
  }
  let matches = false;
  try {
    matches = certificates.fingerprintMatches(caPem, fingerprint);
  } catch {}
  if (!matches) {
    throw new WarrenError(
      'CA_FINGERPRINT_MISMATCH',
      `the CA certificate served by ${base} does not have the fingerprint in the join token: ` +
        'this is not the manager that made the token (or someone is in between); nothing was written',
      400,
    );
  }

  // 2. A key made here, and the request, over TLS verified against the pinned CA
  //    (or the system roots, for a manager with the operator's own REST certificate).
  const name = flags.name ?? defaultName(flags.role);
  const { csrPem, keyPem } = await certificates.createCsr(name);
  const hosts = [...new Set([...flags.host, ...localHostname()])];
  const pinned = new Agent({
    connect: {
      ca: [caPem, ...rootCertificates],
      // A certificate from the pinned CA must be the manager's own, not any
      // component's (they all name localhost); one from a public CA is the
      // operator's REST certificate, checked by host name alone.
      checkServerIdentity: expectRole('manager', caPem),
    },
  });
  let issued: { certificate?: string; serial?: string; not_after?: string };
  try {
    issued = (await callManager(request, pinned, `${base}/api/v1/enroll`, 'POST', {
      token,
      role: flags.role,
      name,
      csr: csrPem,
      hosts,
    })) as typeof issued;
  } finally {
    await pinned.close();
  }
  const certificate = issued.certificate ?? '';
  certificates.checkIssued(caPem, certificate, keyPem, { name, role: flags.role });
  writeTlsDir(flags.tlsDir, { ca: caPem, cert: certificate, key: keyPem });
  return {
    name,
    role: flags.role,
    serial: issued.serial,
    not_after: issued.not_after,
    tls_dir: flags.tlsDir,
  };
}

/** The join token from --token-file, --token-stdin or WARREN_JOIN_TOKEN (exactly one). */
async function readJoinToken(flags: EnrollFlags): Promise<string> {
  const sources = [flags.tokenFile !== undefined, flags.tokenStdin === true].filter(Boolean).length;
  if (sources > 1) {
    throw new WarrenError('BAD_FLAGS', 'give the join token once: --token-file or --token-stdin', 400);
  }
  let token: string | undefined;
  if (flags.tokenFile !== undefined) {
    try {
      token = readFileSync(flags.tokenFile, 'utf8');
    } catch (err) {
      throw new WarrenError(
        'TOKEN_UNREADABLE',
        `cannot read the join token file ${flags.tokenFile}: ${(err as NodeJS.ErrnoException).code}`,
        400,
      );
    }
  } else if (flags.tokenStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    token = Buffer.concat(chunks).toString('utf8');
  } else {
    token = process.env.WARREN_JOIN_TOKEN;
  }
  token = token?.trim().split('\n')[0]?.trim();
  if (!token) {
    throw new WarrenError(
      'NO_JOIN_TOKEN',
      'no join token: pass --token-file FILE or --token-stdin, or set WARREN_JOIN_TOKEN',
      400,
    );
  }
  return token;
}

type Request = typeof import('undici').request;
type Dispatcher = import('undici').Dispatcher;

/** One JSON call; an error answer becomes a WarrenError carrying the manager's code. */
async function callManager(
  request: Request,
  dispatcher: Dispatcher,
  url: string,
  method: 'GET' | 'POST',
  body?: unknown,
): Promise<unknown> {
  let res: Awaited<ReturnType<Request>>;
  try {
    res = await request(url, {
      method,
      dispatcher,
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new WarrenError('MANAGER_UNREACHABLE', `cannot reach the manager at ${url}: ${String(err)}`, 503);
  }
  let text = '';
  for await (const chunk of res.body) {
    text += (chunk as Buffer).toString('utf8');
    if (text.length > MAX_ANSWER) {
      res.body.destroy();
      throw new WarrenError('MANAGER_ERROR', `the answer of ${url} is larger than ${MAX_ANSWER} bytes`, 502);
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new WarrenError('MANAGER_ERROR', `${url} answered ${res.statusCode} with something not JSON`, 502);
  }
  if (res.statusCode >= 400) {
    const error = (parsed as { error?: { code?: string; message?: string } }).error;
    throw new WarrenError(
      error?.code ?? 'MANAGER_ERROR',
      `the manager refused: ${error?.message ?? `status ${res.statusCode}`}`,
      res.statusCode,
    );
  }
  return parsed;
}

/** `<role>-<hostname>`, cut to what a certificate name may hold. */
function defaultName(role: string): string {
  const host = hostname().replace(/[^A-Za-z0-9._-]/g, '-');
  return `${role}-${host}`.slice(0, 63);
}

/** This machine's host name, when it is a DNS name the manager accepts. */
function localHostname(): string[] {
  const host = hostname();
  return /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(
    host,
  ) && host.length <= 253
    ? [host]
    : [];
}
