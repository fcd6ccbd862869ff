import { checkCompose } from './compose.js';
import { checkIcon, checkNotArchive } from './content.js';
import { parseManifest } from './manifest.js';
import { APP_YML, COMPOSE_YML, ICON_NAMES } from './paths.js';
import { DEFAULT_RELEASE_LIMITS, ReleaseError, type ReleaseLimits, type ValidatedRelease } from './types.js';
import { parseReleaseYaml } from './yaml.js';
import { readReleaseEntries, readZipFileBounded, type ZipReadStats } from './zip-reader.js';

/**
 * The release validator (issue 5): one function used by `warren app
 * validate|pack|sign|verify`, by the store on upload and by every instance
 * before install. Order: the zip file's size, then its central directory
 * (names, kinds, sizes, layout), then each entry's bytes inflated under
 * limits, then the YAML, app.yml and docker-compose.yml. The first refusal
 * throws a ReleaseError whose code is stable and whose `where` names the
 * entry and key.
 */
export function validateRelease(zipPath: string, limits?: Partial<ReleaseLimits>): Promise<ValidatedRelease> {
  return validateReleaseCounting(zipPath, limits, { inflatedBytes: 0 });
}

/** {@link validateRelease}, adding the bytes it inflated to `stats` (tests and benchmarks assert bounded work). */
export async function validateReleaseCounting(
  zipPath: string,
  limits: Partial<ReleaseLimits> | undefined,
  stats: ZipReadStats,
): Promise<ValidatedRelease> {
  const bounds = { ...DEFAULT_RELEASE_LIMITS, ...limits };
  const file = await readZipFileBounded(zipPath, bounds.maxZipBytes);
  const entries = await readReleaseEntries(file.bytes, bounds, stats);
  for (const [name, content] of entries) checkNotArchive(name, content);

  const manifest = parseManifest(parseReleaseYaml(APP_YML, entries.get(APP_YML)!, bounds.maxYamlBytes));
  const composeBytes = entries.get(COMPOSE_YML)!;
  const compose = checkCompose(
    parseReleaseYaml(COMPOSE_YML, composeBytes, bounds.maxYamlBytes),
    manifest.mainService,
  );

  const iconEntry = ICON_NAMES.find((name) => entries.has(name));
  if (manifest.icon !== iconEntry) {
    throw new ReleaseError(
      'MANIFEST_ICON_MISMATCH',
      `${APP_YML}: icon`,
      manifest.icon
        ? `names ${manifest.icon}, but the zip ${iconEntry ? `holds ${iconEntry}` : 'has no icon'}`
        : `is missing, but the zip holds ${iconEntry}`,
    );
  }
  if (iconEntry) checkIcon(iconEntry, entries.get(iconEntry)!);

  return {
    manifest,
    // Already proven UTF-8 by the YAML check.
    composeYaml: composeBytes.toString('utf8'),
    compose,
    sha256: file.sha256,
    zipBytes: file.bytes.length,
  };
}
