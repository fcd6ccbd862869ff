import type { IncomingMessage, ServerResponse } from 'node:http';
import { WarrenError } from '../../core/errors.js';
import { type DownloadBody, parseDownloadBody } from '../api/download-body.js';
import { streamContent } from '../api/task-content.js';
import type { StoredTask } from '../storage/stored-task.js';
import { byteRange, type ControlValues, originHeaders } from './rules.js';

/** What the proxy needs from the peer to answer through P2P. */
export interface P2PComponents {
  startDownload(body: DownloadBody): Promise<{ taskId: string }>;
  storedTask(taskId: string): StoredTask | undefined;
}

/**
 * Answers a GET from the peer's task for the URL: the download starts (or is
 * joined) and the content streams to the client as verified pieces arrive,
 * `200` with Content-Length and `X-Warren-Task-Id` (`206` for a single
 * byte range; other Range forms get the whole content, as RFC 9110 allows).
 * If the download fails midway the connection is cut, so the client can
 * never take a short body for the whole.
 */
export async function serveThroughP2P(
  c: P2PComponents,
  req: IncomingMessage,
  res: ServerResponse,
  url: string,
  control: ControlValues,
): Promise<void> {
  req.resume(); // a GET body, if any, is not forwarded
  const body = parseDownloadBody({
    url,
    headers: originHeaders(req.rawHeaders),
    ...(control.tag !== undefined ? { tag: control.tag } : {}),
    ...(control.application !== undefined ? { application: control.application } : {}),
    ...(control.filterQuery ? { filterQuery: control.filterQuery } : {}),
    // Refused as an unknown field by a peer that cannot verify a digest:
    // never silently ignored.
    ...(control.digest !== undefined ? { digest: control.digest } : {}),
  });
  const { taskId } = await c.startDownload(body);
  const task = c.storedTask(taskId);
  if (!task) throw new WarrenError('TASK_NOT_FOUND', `task ${taskId} went away`, 502);
  res.setHeader('X-Warren-Task-Id', taskId);
  const range = byteRange(req.headers);
  await streamContent(task, res, range ? { range } : {});
}
