import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { WarrenError } from '../../core/errors.js';

/** What `POST /v1/downloads` accepts. */
export const DownloadBodySchema = Type.Object(
  {
    url: Type.String({ minLength: 1, maxLength: 8192 }),
    headers: Type.Optional(
      Type.Record(
        Type.String({ pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$" }),
        Type.String({ maxLength: 8192 }),
        {
          maxProperties: 64,
        },
      ),
    ),
    tag: Type.Optional(Type.String({ maxLength: 256 })),
    application: Type.Optional(Type.String({ maxLength: 256 })),
    filterQuery: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 64 })),
    /**
     * Content-addressed download (an OCI blob): the task ID is this digest's
     * hex, whatever the URL; the whole content must match it before the task
     * succeeds, and readers never get the last byte before it was checked.
     */
    digest: Type.Optional(Type.String({ pattern: '^sha256:[0-9a-f]{64}$' })),
  },
  { additionalProperties: false },
);

export type DownloadBody = Static<typeof DownloadBodySchema>;

/** Validates a download request; the error names the first bad field. */
export function parseDownloadBody(value: unknown): DownloadBody {
  const error = Value.Errors(DownloadBodySchema, value).First();
  if (error) {
    const field = error.path.replace(/^\//, '').replaceAll('/', '.') || 'body';
    throw new WarrenError('BAD_REQUEST', `${field}: ${error.message}`, 400);
  }
  const body = value as DownloadBody;
  let url: URL;
  try {
    url = new URL(body.url);
  } catch {
    throw new WarrenError('BAD_URL', `url '${body.url}' is not a valid URL`, 400);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WarrenError('BAD_URL', `url scheme '${url.protocol}' is not supported (http or https)`, 400);
  }
  for (const value of Object.values(body.headers ?? {})) {
    if (/[\r\n\0]/.test(value))
      throw new WarrenError('BAD_HEADER', 'header values may not hold CR, LF or NUL', 400);
  }
  return body;
}
