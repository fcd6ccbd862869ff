import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { WarrenError } from '../../core/errors.js';
import { isTaskId, taskIdFor, taskIdForDigest } from '../../core/task.js';
import type { JobType } from '../db/schema.js';

/** Most URLs in one preheat. */
export const MAX_PREHEAT_URLS = 100;
export const PREHEAT_SCOPES = ['single_seed_peer', 'all_seed_peers', 'all_peers'] as const;
export type PreheatScope = (typeof PREHEAT_SCOPES)[number];
/** What job responses show instead of an origin header's value (it may be a credential). */
export const REDACTED = '<redacted>';

const Url = Type.String({ minLength: 1, maxLength: 8192, description: 'http or https URL' });
const Headers = Type.Record(
  Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$" }),
  Type.String({ maxLength: 8192 }),
  {
    maxProperties: 64,
    additionalProperties: false,
    description: 'origin request headers (values are never shown back)',
  },
);
const Tag = Type.String({ maxLength: 256 });
const FilterQuery = Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
  maxItems: 64,
  description: 'query parameters left out of the task id',
});

export const PreheatArgsSchema = Type.Object(
  {
    urls: Type.Optional(Type.Array(Url, { minItems: 1, maxItems: MAX_PREHEAT_URLS })),
    image: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 512,
        description: 'an image reference on a registry in the manager config (instead of urls)',
      }),
    ),
    platform: Type.Optional(
      Type.String({ maxLength: 100, description: "image only: os/arch[/variant], default 'linux/amd64'" }),
    ),
    headers: Type.Optional(Headers),
    tag: Type.Optional(Tag),
    application: Type.Optional(Tag),
    filter_query: Type.Optional(FilterQuery),
    scope: Type.Union(
      PREHEAT_SCOPES.map((s) => Type.Literal(s)),
      { description: 'which hosts fetch the files' },
    ),
    count: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100_000, description: 'all_peers: this many hosts' }),
    ),
    percentage: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 100, description: 'all_peers: this share of the hosts' }),
    ),
  },
  { additionalProperties: false },
);
/**
 * An image preheat as stored: the manager resolves the image when the job
 * is created and keeps its blobs (each a content-addressed task), so every
 * host warms the same manifest even if the tag moves meanwhile.
 */
export type PreheatArgs = Static<typeof PreheatArgsSchema> & {
  resolved?: { manifest_digest: string; blobs: Array<{ digest: string; url: string }> };
};

/** find_task and delete_task: a task id, or the URL (with tag, application, filter_query) it hashes from. */
export const TaskArgsSchema = Type.Object(
  {
    task_id: Type.Optional(Type.String({ pattern: '^[0-9a-f]{64}$' })),
    url: Type.Optional(Url),
    tag: Type.Optional(Tag),
    application: Type.Optional(Tag),
    filter_query: Type.Optional(FilterQuery),
  },
  { additionalProperties: false },
);
export type TaskArgs = Static<typeof TaskArgsSchema>;

export type JobArgs = PreheatArgs | TaskArgs;

/** One task a job is about, as schedulers and hosts get it. */
export interface JobTask {
  taskId: string;
  url: string;
  headers: Record<string, string>;
  tag: string;
  application: string;
  filterQuery: string[];
  /** A content-addressed task (an image blob): `sha256:<hex>`, and taskId is its hex. */
  digest?: string;
}

/** Validates a job's `args` for its type; the error names the first bad field. */
export function parseJobArgs(type: JobType, args: unknown): JobArgs {
  if (type === 'preheat') {
    const parsed = check(PreheatArgsSchema, args);
    if ((parsed.urls === undefined) === (parsed.image === undefined)) {
      throw bad('give args.urls or args.image, one of them');
    }
    if (
      parsed.image !== undefined &&
      (parsed.headers || parsed.tag || parsed.application || parsed.filter_query)
    ) {
      throw bad(
        'args.headers, args.tag, args.application and args.filter_query go with args.urls, not args.image',
      );
    }
    if (parsed.platform !== undefined && parsed.image === undefined)
      throw bad('args.platform goes with args.image');
    for (const [i, url] of (parsed.urls ?? []).entries()) checkUrl(url, `args.urls.${i}`);
    for (const value of Object.values(parsed.headers ?? {})) {
      if (/[\r\n\0]/.test(value)) throw bad('args.headers: values may not hold CR, LF or NUL');
    }
    if (parsed.scope !== 'all_peers' && (parsed.count !== undefined || parsed.percentage !== undefined)) {
      throw bad("args.count and args.percentage apply to scope 'all_peers' only");
    }
    if (parsed.count !== undefined && parsed.percentage !== undefined) {
      throw bad('give args.count or args.percentage, not both');
    }
    return parsed;
  }
  const parsed = check(TaskArgsSchema, args);
  if ((parsed.task_id === undefined) === (parsed.url === undefined)) {
    throw bad('give args.task_id or args.url (with its tag, application, filter_query), one of them');
  }
  if (parsed.url !== undefined) checkUrl(parsed.url, 'args.url');
  if (parsed.task_id !== undefined && (parsed.tag || parsed.application || parsed.filter_query)) {
    throw bad('args.tag, args.application and args.filter_query go with args.url, not args.task_id');
  }
  return parsed;
}

/** The tasks of a job, with ids computed exactly as `warren get` does (core/task.ts). */
export function jobTasks(type: JobType, args: JobArgs): JobTask[] {
  const identity = {
    tag: args.tag ?? '',
    application: args.application ?? '',
    filterQuery: args.filter_query ?? [],
  };
  if (type === 'preheat') {
    const preheat = args as PreheatArgs;
    if (preheat.resolved) {
      // Blobs: the peers fetch them with their own registry accounts, never with headers from here.
      return preheat.resolved.blobs.map((blob) => ({
        taskId: taskIdForDigest(blob.digest),
        url: blob.url,
        headers: {},
        tag: '',
        application: '',
        filterQuery: [],
        digest: blob.digest,
      }));
    }
    return (preheat.urls ?? []).map((url) => ({
      taskId: taskIdFor({ url, ...identity }),
      url,
      headers: preheat.headers ?? {},
      ...identity,
    }));
  }
  const task = args as TaskArgs;
  if (task.task_id !== undefined && isTaskId(task.task_id)) {
    return [{ taskId: task.task_id, url: '', headers: {}, ...identity }];
  }
  return [{ taskId: taskIdFor({ url: task.url!, ...identity }), url: task.url!, headers: {}, ...identity }];
}

/** Args as the API shows them: header values replaced, since they may be origin credentials. */
export function redactArgs(args: JobArgs): JobArgs {
  if (!('headers' in args) || !args.headers) return args;
  return { ...args, headers: Object.fromEntries(Object.keys(args.headers).map((k) => [k, REDACTED])) };
}

function check<T extends TSchema>(schema: T, value: unknown): Static<T> {
  const error = Value.Errors(schema, value).First();
  if (error) {
    const field = error.path.replace(/^\//, '').replaceAll('/', '.');
    throw bad(`${field ? `args.${field}` : 'args'}: ${error.message}`);
  }
  return value as Static<T>;
}

function checkUrl(value: string, field: string): void {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad(`${field}: '${value}' is not a valid URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw bad(`${field}: scheme '${url.protocol}' is not supported (http or https)`);
  }
}

function bad(message: string): WarrenError {
  return new WarrenError('BAD_REQUEST', message, 400);
}
