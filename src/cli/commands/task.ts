import type { Command } from 'commander';
import { formatBytes } from '../../core/units.js';
import type { TaskStatus } from '../../peer/api/local-api.js';
import { DEFAULT_SOCKET } from './get.js';

/** `warren task ls` / `warren task rm ID` on the local peer. */
export function registerTaskCommands(program: Command): void {
  const task = program.command('task').description('tasks held by the local peer');
  task
    .command('ls')
    .description('list tasks')
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .option('--json', 'machine-readable output')
    .action(async (opts: { socket: string; json?: boolean }) => {
      const { tasks } = await callPeer<{ tasks: TaskStatus[] }>(opts.socket, 'GET', '/v1/tasks');
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(tasks)}\n`);
        return;
      }
      process.stdout.write('TASK ID           STATE      SIZE        PIECES   URL\n');
      for (const t of tasks) {
        const size = t.contentLength === null ? '?' : formatBytes(t.contentLength);
        process.stdout.write(
          `${t.taskId.slice(0, 16)}  ${t.state.padEnd(9)}  ${size.padEnd(10)}  ${`${t.piecesHeld}/${t.pieceCount}`.padEnd(7)}  ${t.url}\n`,
        );
      }
    });
  program
    .command('gc')
    .description("run the local peer's disk GC now (expired tasks, then down to the low watermark)")
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .action(async (opts: { socket: string }) => {
      const { removed } = await callPeer<{ removed: string[] }>(opts.socket, 'POST', '/v1/gc');
      process.stdout.write(`removed ${removed.length} task(s)${removed.map((id) => `\n  ${id}`).join('')}\n`);
    });
  task
    .command('rm <taskId>')
    .description('remove a task and its data (refused while it is in use)')
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .action(async (taskId: string, opts: { socket: string }) => {
      await callPeer(opts.socket, 'DELETE', `/v1/tasks/${taskId}`);
      process.stdout.write(`removed ${taskId}\n`);
    });
}

/** One JSON call to the local peer; the client is loaded only when a command runs (keeps `warren --help` fast). */
async function callPeer<T>(socket: string, method: 'GET' | 'POST' | 'DELETE', path: string): Promise<T> {
  const { PeerClient } = await import('../peer-client.js');
  const client = new PeerClient(socket);
  try {
    return await client.json<T>(method, path);
  } finally {
    await client.close();
  }
}
