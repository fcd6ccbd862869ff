import type { Command } from 'commander';
import { registerAppPublishCommands } from './app-publish.js';
import { registerAppSigningCommands } from './app-signing.js';
import { registerAppValidateCommands } from './app-validate.js';

/**
 * `warren app …`: the maintainer's tools for releases — keygen, pack, sign,
 * validate, verify; and with a store: publish, fetch, rotate-key, yank.
 */
export function registerAppCommands(program: Command): void {
  const app = program
    .command('app')
    .description('app releases: keygen, pack, sign, validate, verify, publish, fetch');
  registerAppValidateCommands(app);
  registerAppSigningCommands(app);
  registerAppPublishCommands(app);
}
