import { join } from 'node:path';
import type { Command } from 'commander';
import { WarrenError } from '../../core/errors.js';

/** Certificate roles (kept here so that `warren --help` does not load the X.509 code). */
const ROLES = ['scheduler', 'peer', 'seed', 'manager', 'client', 'store', 'cloud'] as const;

/**
 * `warren ca init` / `warren ca issue`: a local CA for mTLS between components
 * until the manager's enrolment replaces it.
 */
export function registerCaCommands(program: Command): void {
  const ca = program.command('ca').description('local certificate authority for mTLS between components');

  ca.command('init')
    .description('create a CA (ca.crt, ca.key 0600) in a folder')
    .option('--ca-dir <dir>', 'where the CA lives', 'warren-data/ca')
    .option('--days <n>', 'validity in days', '3650')
    .action(async (opts: { caDir: string; days: string }) => {
      const { initCa } = await import('../../core/tls.js');
      await initCa(opts.caDir, { days: Number(opts.days) });
      process.stdout.write(`CA created in ${opts.caDir}\n`);
    });

  ca.command('issue')
    .description('issue a certificate for a component into its --tls-dir')
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`)
    .requiredOption('--name <name>', 'component name (certificate CN)')
    .option('--ca-dir <dir>', 'where the CA lives', 'warren-data/ca')
    .option('--tls-dir <dir>', 'output folder (ca.crt, tls.crt, tls.key); default <ca-dir>/<name>')
    .option('--host <host...>', 'extra DNS names or IP addresses the certificate covers')
    .option('--days <n>', 'validity in days', '30')
    .action(
      async (opts: {
        role: string;
        name: string;
        caDir: string;
        tlsDir?: string;
        host?: string[];
        days: string;
      }) => {
        if (!(ROLES as readonly string[]).includes(opts.role)) {
          throw new WarrenError('BAD_ROLE', `--role '${opts.role}' is not one of ${ROLES.join(', ')}`, 400);
        }
        const { issueCertificate, writeTlsDir } = await import('../../core/tls.js');
        const material = await issueCertificate(opts.caDir, {
          role: opts.role as (typeof ROLES)[number],
          name: opts.name,
          hosts: opts.host,
          days: Number(opts.days),
        });
        const out = opts.tlsDir ?? join(opts.caDir, opts.name);
        writeTlsDir(out, material);
        process.stdout.write(`certificate for ${opts.role} '${opts.name}' written to ${out}\n`);
      },
    );
}
