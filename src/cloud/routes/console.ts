import { createReadStream, existsSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip as gzipCb } from 'node:zlib';
import type { FastifyReply } from 'fastify';
import { WarrenError } from '../../core/errors.js';
import type { RestApp } from '../../core/http/app.js';

const gzip = promisify(gzipCb);

/*
 * Serves the web console built by `npm run build` (web/ -> dist/web): GET /
 * is index.html, GET /assets/<name> the content-hashed scripts and styles.
 * Static files only, so every route is public: the data comes from the
 * authenticated API. Every answer carries a strict Content-Security-Policy
 * (the build puts no inline script or style in the page), nosniff and
 * no-referrer. Only plain files directly inside assets/ are served: a name
 * with a slash, a dot-dot or anything else outside [A-Za-z0-9._-] is refused
 * before the file system is touched, and a symlink is never followed.
 */

export const CONSOLE_CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export interface ConsoleRouteDeps {
  /** The built console (dist/web): index.html and assets/. */
  webRoot: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};
const COMPRESSIBLE = new Set(['.js', '.mjs', '.css', '.map', '.json', '.txt', '.svg']);

/** Bounds of the in-memory cache of gzipped assets. */
const GZIP_MAX_FILE = 1024 * 1024;
const GZIP_MAX_ENTRIES = 32;

const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/;

/**
 * The file an `/assets/<name>` request may read, or undefined when the name is
 * refused (pure: no file system access). Vite writes assets flat, so one path
 * segment of safe characters is all that is ever needed.
 */
export function assetPath(assetsDir: string, name: string): string | undefined {
  if (!ASSET_NAME.test(name) || name.includes('..')) return undefined;
  const root = resolve(assetsDir);
  const path = resolve(root, name);
  return path.startsWith(root + sep) ? path : undefined;
}

/** The content type served for an asset's file name. */
export function assetContentType(name: string): string {
  return CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** dist/web of the Warren checkout this module runs from (the sources or the bundle in dist/). */
export function defaultWebRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'dist', 'web');
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return resolve('dist', 'web');
}

function securityHeaders(reply: FastifyReply): FastifyReply {
  return reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin');
}

export function registerConsoleRoutes(app: RestApp, deps: ConsoleRouteDeps): void {
  const webRoot = resolve(deps.webRoot);
  const assetsDir = join(webRoot, 'assets');
  const gzipped = new Map<string, { mtimeMs: number; size: number; body: Buffer }>();

  app.get('/', { config: { access: { public: true } }, schema: { hide: true } }, async (_req, reply) => {
    securityHeaders(reply).header('cache-control', 'no-cache');
    let html: Buffer;
    try {
      html = await readFile(join(webRoot, 'index.html'));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      return reply
        .status(503)
        .type('text/plain; charset=utf-8')
        .send(
          `The Warren console is not built (no ${join(webRoot, 'index.html')}). ` +
            'Run `npm run build` in the Warren folder, then reload this page.\n',
        );
    }
    return reply.type('text/html; charset=utf-8').send(html);
  });

  app.get(
    '/assets/*',
    { config: { access: { public: true } }, schema: { hide: true } },
    async (req, reply) => {
      securityHeaders(reply);
      const name = (req.params as { '*'?: string })['*'] ?? '';
      const path = assetPath(assetsDir, name);
      const refused = new WarrenError(
        'NOT_FOUND',
        `no console file ${JSON.stringify(name.slice(0, 100))}`,
        404,
      );
      if (!path) throw refused;
      const stat = await lstat(path).catch(() => undefined);
      if (!stat?.isFile()) throw refused;
      reply
        .header('cache-control', 'public, max-age=31536000, immutable')
        .header('vary', 'accept-encoding')
        .type(assetContentType(name));
      const ext = extname(name).toLowerCase();
      const acceptsGzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
      if (acceptsGzip && COMPRESSIBLE.has(ext) && stat.size <= GZIP_MAX_FILE) {
        let entry = gzipped.get(path);
        if (!entry || entry.mtimeMs !== stat.mtimeMs || entry.size !== stat.size) {
          entry = { mtimeMs: stat.mtimeMs, size: stat.size, body: await gzip(await readFile(path)) };
          gzipped.delete(path);
          if (gzipped.size >= GZIP_MAX_ENTRIES) gzipped.delete(gzipped.keys().next().value!);
          gzipped.set(path, entry);
        }
        return reply.header('content-encoding', 'gzip').send(entry.body);
      }
      reply.header('content-length', String(stat.size));
      return reply.send(createReadStream(path));
    },
  );
}
