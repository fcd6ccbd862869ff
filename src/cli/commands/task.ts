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
      const client = await peerClient(opts.socket);
      try {
        const { tasks } = await client.json<{ tasks: TaskStatus[] }>('GET', '/v1/tasks');
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
      } finally {
        await client.close();
      }
    });
  program
    .command('gc')
    .description("run the local peer's disk GC now (expired tasks, then down to the low watermark)")
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .action(async (opts: { socket: string }) => {
      const client = await peerClient(opts.socket);
      try {
        const { removed } = await client.json<{ removed: string[] }>('POST', '/v1/gc');
        process.stdout.write(
          `removed ${removed.length} task(s)${removed.map((id) => `\n  ${id}`).join('')}\n`,
        );
      } finally {
        await client.close();
      }
    });
  task
    .command('rm <taskId>')
    .description('remove a task and its data (refused while it is in use)')
    .option('--socket <path>', 'local peer socket', DEFAULT_SOCKET)
    .action(async (taskId: string, opts: { socket: string }) => {
      const client = await peerClient(opts.socket);
      try {
        await client.json('DELETE', `/v1/tasks/${taskId}`);
        process.stdout.write(`removed ${taskId}\n`);
      } finally {
        await client.close();
      }
    });
}

/** The socket client, loaded only when a command runs (keeps `warren --help` fast). */
async function peerClient(socket: string) {
  const { PeerClient } = await import('../peer-client.js');
  return new PeerClient(socket);
}
