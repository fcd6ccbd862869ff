import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';

/** What differs between the test releases; the rest is a plain valid app. */
export interface ReleaseFixture {
  id: string;
  version: string;
  description?: string;
  /** Extra compose text under the main service (to make an invalid release). */
  serviceExtra?: string;
}

export function appYml(r: ReleaseFixture): string {
  return [
    `id: ${r.id}`,
    `name: ${r.id} (test)`,
    `version: ${r.version}`,
    'maintainer: alice',
    `description: ${r.description ?? 'a test app'}`,
    'main_service: web',
    'internal_port: 8080',
    'url_path: /',
    'health_check_path: /healthz',
    '',
  ].join('\n');
}

export function composeYml(r: ReleaseFixture): string {
  return [
    'services:',
    '  web:',
    '    image: nginx:1.27.3',
    ...(r.serviceExtra ? [r.serviceExtra] : []),
    '',
  ].join('\n');
}

/** Writes a release zip (app.yml, docker-compose.yml) with yazl. */
export async function writeReleaseZip(path: string, r: ReleaseFixture): Promise<void> {
  const zip = new ZipFile();
  zip.addBuffer(Buffer.from(appYml(r)), 'app.yml', { mtime: new Date(2025, 0, 1), mode: 0o644 });
  zip.addBuffer(Buffer.from(composeYml(r)), 'docker-compose.yml', {
    mtime: new Date(2025, 0, 1),
    mode: 0o644,
  });
  zip.end();
  await pipeline(zip.outputStream, createWriteStream(path, { flags: 'wx' }));
}
