import { Command } from 'commander';
import { errorMessage, isWarrenError } from '../core/errors.js';
import { registerAppCommands } from './commands/app.js';
import { registerBlocklistCommands } from './commands/blocklist.js';
import { registerCaCommands } from './commands/ca.js';
import { registerCloudCommand } from './commands/cloud.js';
import { registerClusterCommands } from './commands/cluster.js';
import { registerEnrollCommand } from './commands/enroll.js';
import { registerGetCommand } from './commands/get.js';
import { registerImageCommands } from './commands/image.js';
import { registerJobCommands } from './commands/job.js';
import { registerLoginCommands } from './commands/login.js';
import { registerManagerCommand } from './commands/manager.js';
import { registerPeerCommand } from './commands/peer.js';
import { registerPreheatCommand } from './commands/preheat.js';
import { registerSchedulerCommand } from './commands/scheduler.js';
import { registerStoreCommands } from './commands/store.js';
import { registerTaskCommands } from './commands/task.js';
import { registerTokenCommands } from './commands/token.js';
import { registerUpCommand } from './commands/up.js';
import { registerUserCommands } from './commands/user.js';

/**
 * The `warren` executable: every role and client command. This is the only
 * place (with `up`) that composes roles; roles never import each other.
 */
const program = new Command()
  .name('warren')
  .description('P2P distribution network and self-hosted app cloud')
  .version('0.1.0')
  .showHelpAfterError();

registerCaCommands(program);
registerManagerCommand(program);
registerEnrollCommand(program);
registerSchedulerCommand(program);
registerPeerCommand(program);
registerBlocklistCommands(program);
registerGetCommand(program);
registerTaskCommands(program);
registerImageCommands(program);
registerPreheatCommand(program);
registerJobCommands(program);
registerLoginCommands(program);
registerUserCommands(program);
registerTokenCommands(program);
registerClusterCommands(program);
registerAppCommands(program);
registerStoreCommands(program);
registerCloudCommand(program);
registerUpCommand(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  const code = isWarrenError(err) ? err.code : 'ERROR';
  process.stderr.write(`warren: ${errorMessage(err)}${code === 'ERROR' ? '' : ` [${code}]`}\n`);
  process.exitCode = process.exitCode && process.exitCode !== 0 ? process.exitCode : 1;
}
