import type { Command } from 'commander';
import { managerOptions, withApi } from '../manager-api.js';
import { printJson, printRows } from '../output.js';
import { fetchAllPages } from '../paging.js';

interface Cluster {
  id: string;
  name: string;
  description: string;
  is_default: boolean;
  config: unknown;
  scopes: { cidrs: string[]; hostnames: string[]; idcs: string[]; locations: string[] };
}

interface Component {
  id: string;
  role: string;
  ip: string;
  port: number;
  state: string;
  last_seen_at: string;
}

interface Certificate {
  serial: string;
  name: string;
  role: string;
  not_after: string;
  revoked_at: string | null;
}

/**
 * `warren cluster ls|show` and `warren cert ls|revoke`: the manager's view of
 * clusters, their schedulers and seed peers, and the certificates its CA issued.
 */
export function registerClusterCommands(program: Command): void {
  const cluster = program
    .command('cluster')
    .description('clusters: schedulers and seed peers, config, locality rules');
  managerOptions(cluster.command('ls').description('list clusters'))
    .option('--json', 'machine-readable output')
    .action(async (flags: { json?: boolean }) => {
      await withApi(flags, async (api) => {
        const clusters = await fetchAllPages<Cluster>(api, '/api/v1/clusters');
        printRows(
          clusters,
          [
            { header: 'id', value: (c) => c.id },
            { header: 'name', value: (c) => c.name },
            { header: 'default', value: (c) => (c.is_default ? 'yes' : '') },
            { header: 'rules', value: (c) => ruleSummary(c) },
            { header: 'description', value: (c) => c.description },
          ],
          flags.json,
        );
      });
    });
  managerOptions(
    cluster.command('show <id>').description("a cluster's config and its schedulers and seed peers"),
  )
    .option('--json', 'machine-readable output')
    .action(async (id: string, flags: { json?: boolean }) => {
      await withApi(flags, async (api) => {
        const path = `/api/v1/clusters/${encodeURIComponent(id)}`;
        const found = await api.call<Cluster>('GET', path);
        const components = await fetchAllPages<Component>(api, `${path}/components`);
        if (flags.json) {
          printJson({ ...found, components });
          return;
        }
        process.stdout.write(
          `${found.name} (${found.id})\nconfig: ${JSON.stringify(found.config)}\nrules:  ${ruleSummary(found) || '-'}\n\n`,
        );
        printRows(
          components,
          [
            { header: 'id', value: (c) => c.id },
            { header: 'role', value: (c) => c.role },
            { header: 'address', value: (c) => `${c.ip}:${c.port}` },
            { header: 'state', value: (c) => c.state },
            { header: 'last seen', value: (c) => c.last_seen_at },
          ],
          false,
        );
      });
    });

  const cert = program.command('cert').description("certificates issued by the manager's CA");
  managerOptions(cert.command('ls').description('list certificates, newest first'))
    .option('--name <name>', 'only those of one component')
    .option('--json', 'machine-readable output')
    .action(async (flags: { name?: string; json?: boolean }) => {
      await withApi(flags, async (api) => {
        const query = flags.name ? `?name=${encodeURIComponent(flags.name)}` : '';
        const certificates = await fetchAllPages<Certificate>(api, `/api/v1/certificates${query}`);
        printRows(
          certificates,
          [
            { header: 'serial', value: (c) => c.serial },
            { header: 'name', value: (c) => c.name },
            { header: 'role', value: (c) => c.role },
            { header: 'expires', value: (c) => c.not_after },
            { header: 'revoked', value: (c) => c.revoked_at ?? '' },
          ],
          flags.json,
        );
      });
    });
  managerOptions(
    cert
      .command('revoke [serial]')
      .description('revoke a certificate (schedulers and peers refuse it within a keepalive)'),
  )
    .option('--name <name>', 'revoke every live certificate of a component instead (it must enrol again)')
    .action(async (serial: string | undefined, flags: { name?: string }) => {
      await withApi(flags, async (api) => {
        if (flags.name) await api.call('POST', '/api/v1/certificates/revoke', { name: flags.name });
        else if (serial) await api.call('POST', `/api/v1/certificates/${encodeURIComponent(serial)}/revoke`);
        else throw new Error('give a serial number or --name');
        process.stdout.write(`revoked ${flags.name ?? serial}\n`);
      });
    });
}

function ruleSummary(c: Cluster): string {
  const s = c.scopes;
  return [
    ...s.cidrs.map((v) => `cidr ${v}`),
    ...s.hostnames.map((v) => `host ~${v}`),
    ...s.idcs.map((v) => `idc ${v}`),
    ...s.locations.map((v) => `location ${v}`),
  ].join(', ');
}
