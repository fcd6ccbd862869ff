import type { Command } from 'commander';

/** Options every long-running role takes. */
export function roleOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'YAML configuration file')
    .option('--tls-dir <dir>', 'folder holding ca.crt, tls.crt and tls.key')
    .option('--ops-listen <addr>', '/metrics and /healthz address (host:port)')
    .option('--log-level <level>', 'trace, debug, info, warn or error');
}

/** Resolves on SIGINT/SIGTERM. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}
