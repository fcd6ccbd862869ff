import type { Command } from 'commander';
import { registerAppSigningCommands } from './app-signing.js';
import { registerAppValidateCommands } from './app-validate.js';

/**
 * `warren app …`: the maintainer's tools for releases — keygen, pack, sign,
 * validate, verify (and, with the store, publish).
 */
export function registerAppCommands(program: Command): void {
  const app = program.command('app').description('app releases: keygen, pack, sign, validate, verify');
  registerAppValidateCommands(app);
  registerAppSigningCommands(app);
}
