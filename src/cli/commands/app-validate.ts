import type { Command } from 'commander';
import { errorMessage, isWarrenError } from '../../core/errors.js';
import type { ValidatedRelease } from '../../core/release/types.js';
import { printJson } from '../output.js';

/*
 * `warren app validate FILE.zip` and `warren app pack DIR -o FILE.zip`: the
 * release checks alone (no signature), and the zip built from a folder and
 * checked before it is put in place. Exit 0 only for a valid release. The
 * validator loads inside the actions, so `warren --help` stays fast.
 */

interface JsonFlag {
  json?: boolean;
}

export function registerAppValidateCommands(app: Command): void {
  app
    .command('validate <zip>')
    .description(
      'check a release zip (format, zip safety, app.yml, docker-compose.yml); exit 0 only if valid',
    )
    .option('--json', 'machine-readable output')
    .action(async (zip: string, flags: JsonFlag) => {
      const { validateRelease } = await import('../../core/release/validate.js');
      await reportOutcome(flags, async () => {
        const release = await validateRelease(zip);
        return { release, text: `valid release ${describe(release)}\n` };
      });
    });

  app
    .command('pack <dir>')
    .description(
      'build a release zip from DIR (app.yml, docker-compose.yml, optional icon); written only if valid',
    )
    .requiredOption('-o, --out <zip>', 'the release zip to write')
    .option('--json', 'machine-readable output')
    .action(async (dir: string, flags: JsonFlag & { out: string }) => {
      const { packRelease } = await import('../../core/release/pack.js');
      await reportOutcome(flags, async () => {
        const release = await packRelease(dir, flags.out);
        return {
          release,
          text: `packed ${describe(release)}\nrelease: ${flags.out}\n`,
          extra: { file: flags.out },
        };
      });
    });
}

interface Outcome {
  release: ValidatedRelease;
  text: string;
  extra?: Record<string, unknown>;
}

/** Prints the summary, or the refusal (code, where, message) with exit status 1. */
async function reportOutcome(flags: JsonFlag, run: () => Promise<Outcome>): Promise<void> {
  let outcome: Outcome;
  try {
    outcome = await run();
  } catch (err) {
    if (!flags.json) throw err;
    const code = isWarrenError(err) ? err.code : 'ERROR';
    const where = err instanceof Error && 'where' in err ? String(err.where) : undefined;
    printJson({ ok: false, error: { code, ...(where ? { where } : {}), message: errorMessage(err) } });
    process.exitCode = 1;
    return;
  }
  if (flags.json) {
    printJson({ ok: true, ...outcome.extra, ...summary(outcome.release) });
    return;
  }
  process.stdout.write(outcome.text);
}

function describe(release: ValidatedRelease): string {
  const m = release.manifest;
  const services = Object.keys((release.compose['services'] ?? {}) as Record<string, unknown>);
  return (
    `${m.id} ${m.version} (${m.name}, by ${m.maintainer}): ` +
    `${services.length} service${services.length === 1 ? '' : 's'}, main ${m.mainService}:${m.internalPort}, ` +
    `${release.zipBytes} bytes, sha256 ${release.sha256}`
  );
}

function summary(release: ValidatedRelease): Record<string, unknown> {
  const m = release.manifest;
  return {
    app_id: m.id,
    version: m.version,
    name: m.name,
    maintainer: m.maintainer,
    main_service: m.mainService,
    internal_port: m.internalPort,
    url_path: m.urlPath,
    health_check_path: m.healthCheckPath,
    ...(m.icon ? { icon: m.icon } : {}),
    services: Object.keys((release.compose['services'] ?? {}) as Record<string, unknown>),
    sha256: release.sha256,
    zip_bytes: release.zipBytes,
  };
}
