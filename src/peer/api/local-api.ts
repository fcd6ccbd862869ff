import { once } from 'node:events';
import { constants, readFileSync } from 'node:fs';
import { chmod, chown, copyFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isAbsolute } from 'node:path';
import { errorMessage, isWarrenError, WarrenError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { isTaskId } from '../../core/task.js';
import type { StoredTask } from '../storage/stored-task.js';
import { type DownloadBody, parseDownloadBody } from './download-body.js';
import { streamContent, waitFor } from './task-content.js';

/** What the local API needs from the peer daemon. */
export interface LocalApiComponents {
  log: Logger;
  startDownload(body: DownloadBody): Promise<{ taskId: string }>;
  listTasks(): TaskStatus[];
  taskStatus(taskId: string): TaskStatus | undefined;
  storedTask(taskId: string): StoredTask | undefined;
  removeTask(taskId: string): Promise<void>;
  runGc(): Promise<string[]>;
}

export interface TaskStatus {
  taskId: string;
  url: string;
  state: 'running' | 'succeeded' | 'failed' | 'stored';
  contentLength: number | null;
  pieceCount: number;
  piecesHeld: number;
  inUse: boolean;
  lastAccess: string;
  /** SHA-256 of the whole content as the peer that fetched it from the origin computed it. */
  contentSha256: string | null;
  error?: { code: string; message: string };
  stats?: Record<string, number>;
}

export interface LocalApiInit {
  socketPath: string;
  /** 0o600 by default; 0o660 with `group` lets that group's members use the peer. */
  mode: number;
  group?: number;
}

const MAX_BODY = 64 * 1024;

/**
 * The peer's local API, on a unix socket that only its own user (or group)
 * may open: the file mode is the authentication (Dragonfly's threat 2).
 */
export class LocalApi {
  private server: Server | undefined;
  /** True when the socket is open to a group, not only to the peer's own user. */
  get shared(): boolean {
    return this.init.group !== undefined;
  }

  constructor(
    private readonly c: LocalApiComponents,
    private readonly init: LocalApiInit,
  ) {}

  async start(): Promise<void> {
    await rm(this.init.socketPath, { force: true });
    const server = createServer((req, res) => {
      this.route(req, res).catch((err) => sendError(res, err, this.c.log));
    });
    server.headersTimeout = 10_000;
    server.requestTimeout = 0; // content streams last as long as the download
    // The socket is created with no permissions for others at all, then
    // given its final mode: there is no moment when another user could open it.
    const previous = process.umask(0o177);
    try {
      server.listen(this.init.socketPath);
      await once(server, 'listening');
    } finally {
      process.umask(previous);
    }
    if (this.init.group !== undefined)
      await chown(this.init.socketPath, process.getuid?.() ?? 0, this.init.group);
    await chmod(this.init.socketPath, this.init.mode);
    this.server = server;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(this.init.socketPath, { force: true });
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://local');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'v1') throw new WarrenError('NOT_FOUND', `no route ${url.pathname}`, 404);
    if (parts[1] === 'downloads' && parts.length === 2 && req.method === 'POST') {
      const body = parseDownloadBody(await readBody(req));
      return sendJson(res, 200, await this.c.startDownload(body));
    }
    if (parts[1] === 'gc' && parts.length === 2 && req.method === 'POST') {
      return sendJson(res, 200, { removed: await this.c.runGc() });
    }
    if (parts[1] === 'tasks' && parts.length === 2 && req.method === 'GET') {
      return sendJson(res, 200, { tasks: this.c.listTasks() });
    }
    const id = parts[2] ?? '';
    if (parts[1] !== 'tasks' || !isTaskId(id))
      throw new WarrenError('NOT_FOUND', `no route ${url.pathname}`, 404);
    if (parts.length === 3 && req.method === 'GET') {
      const status = this.c.taskStatus(id);
      if (!status) throw new WarrenError('TASK_NOT_FOUND', `no task ${id} on this peer`, 404);
      return sendJson(res, 200, status);
    }
    if (parts.length === 3 && req.method === 'DELETE') {
      await this.c.removeTask(id);
      return sendJson(res, 200, { removed: id });
    }
    if (parts.length === 4 && parts[3] === 'content' && req.method === 'GET') {
      const task = this.c.storedTask(id);
      if (!task) throw new WarrenError('TASK_NOT_FOUND', `no task ${id} on this peer`, 404);
      return streamContent(task, res);
    }
    if (parts.length === 4 && parts[3] === 'export' && req.method === 'POST') {
      const task = this.c.storedTask(id);
      if (!task) throw new WarrenError('TASK_NOT_FOUND', `no task ${id} on this peer`, 404);
      return sendJson(res, 200, await this.exportTask(task, parseExportBody(await readBody(req)), res));
    }
    throw new WarrenError('NOT_FOUND', `no route ${req.method} ${url.pathname}`, 404);
  }

  /**
   * Copies a task, once complete, to a file of the caller's (in the kernel:
   * copy_file_range, no bytes through user space). Only on a private socket
   * (0600): then whoever connects is the peer's own user, so the peer writes
   * nothing that user could not write. With a group socket, readers stream.
   */
  private async exportTask(task: StoredTask, path: string, res: ServerResponse) {
    if (this.shared) {
      throw new WarrenError(
        'EXPORT_NOT_ALLOWED',
        'this peer socket is shared with a group: read the content instead',
        403,
      );
    }
    const release = task.acquire();
    const gone = new AbortController();
    res.once('close', () => gone.abort());
    try {
      // A content-addressed task is exported only once the whole matched its digest.
      const ready = () => (task.meta.digest ? task.verified : task.complete);
      if (!ready()) await waitFor(task, ready, gone.signal);
      await copyFile(task.dataPath, path, constants.COPYFILE_EXCL);
      return { path, bytes: task.meta.contentLength ?? 0 };
    } finally {
      release();
    }
  }
}

function parseExportBody(value: unknown): string {
  const path = (value as { path?: unknown } | null)?.path;
  if (typeof path !== 'string' || !isAbsolute(path) || path.includes('\0')) {
    throw new WarrenError('BAD_REQUEST', 'path: an absolute file path is required', 400);
  }
  return path;
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new WarrenError('BODY_TOO_LARGE', `request body over ${MAX_BODY} bytes`, 413);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new WarrenError('BAD_JSON', 'request body is not valid JSON', 400);
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function sendError(res: ServerResponse, err: unknown, log: Logger): void {
  const e = isWarrenError(err) ? err : new WarrenError('INTERNAL', errorMessage(err), 500);
  if (e.status >= 500) log.warn({ err: errorMessage(err) }, 'local API error');
  if (res.headersSent) res.destroy();
  else sendJson(res, e.status, e.toJSON());
}

/** The gid of `socketGroup` (a name from /etc/group or a number); undefined for ''. */
export function groupId(group: string): number | undefined {
  if (!group) return undefined;
  if (/^\d+$/.test(group)) return Number(group);
  const line = readFileSync('/etc/group', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${group}:`));
  const gid = line?.split(':')[2];
  if (gid === undefined)
    throw new WarrenError('CONFIG_INVALID', `socketGroup '${group}' is not a known group`, 400);
  return Number(gid);
}
