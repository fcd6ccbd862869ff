import {
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { pipeline } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { WarrenError } from '../../core/errors.js';
import { endToEndHeaders } from './rules.js';

/** RFC 9110 §7.6.3: a proxy names itself in Via on what it forwards. */
const VIA = '1.1 warren';

/** Connections to origins for pass-through requests, kept alive and bounded. */
export class Upstreams {
  readonly http: HttpAgent;
  readonly https: HttpsAgent;

  constructor(init: { maxSockets: number; idleTimeout: number; extraCa?: string }) {
    const common = {
      keepAlive: true,
      maxSockets: init.maxSockets,
      maxFreeSockets: 16,
      timeout: init.idleTimeout,
    };
    this.http = new HttpAgent(common);
    // The origin's certificate is checked as usual: the system's CAs plus the
    // peer's extra bundle (source.caFile), never weaker.
    this.https = new HttpsAgent({
      ...common,
      ...(init.extraCa ? { ca: [...rootCertificates, init.extraCa] } : {}),
    });
  }

  close(): void {
    this.http.destroy();
    this.https.destroy();
  }
}

/**
 * Sends a client's request to the origin as it is and streams the answer
 * back, both bodies streamed, never buffered. Only hop-by-hop headers (and
 * the X-Warren-* control headers) are dropped; Host is set from the URL, as
 * RFC 9112 §3.2.2 asks of a proxy given an absolute URL.
 */
export function passThrough(
  req: IncomingMessage,
  res: ServerResponse,
  target: URL,
  upstreams: Upstreams,
  idleTimeout: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const headers: string[] = ['Host', target.host];
    for (const [name, value] of endToEndHeaders(req.rawHeaders, { control: true })) {
      if (name.toLowerCase() !== 'host') headers.push(name, value);
    }
    headers.push('Via', VIA);
    const https = target.protocol === 'https:';
    const upstream = (https ? httpsRequest : httpRequest)({
      agent: https ? upstreams.https : upstreams.http,
      protocol: target.protocol,
      hostname: target.hostname.replace(/^\[|\]$/g, ''),
      port: target.port || (https ? 443 : 80),
      method: req.method,
      path: target.pathname + target.search,
      headers: headers as unknown as Record<string, string>,
      setHost: false,
      timeout: idleTimeout,
    });
    upstream.on('timeout', () =>
      upstream.destroy(new WarrenError('UPSTREAM_TIMEOUT', 'origin went silent', 504)),
    );
    upstream.on('response', (answer) => {
      const back: string[] = [];
      for (const [name, value] of endToEndHeaders(answer.rawHeaders, { control: false }))
        back.push(name, value);
      back.push('Via', VIA);
      res.sendDate = false; // the origin's Date, or none, as it sent it
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, back);
      pipeline(answer, res, (err) => (err ? reject(err) : resolve()));
    });
    upstream.on('error', (err) => {
      reject(
        res.headersSent
          ? err
          : new WarrenError('UPSTREAM_FAILED', `origin ${target.host} failed: ${err.message}`, 502, {
              cause: err,
            }),
      );
    });
    res.once('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    pipeline(req, upstream, () => undefined);
  });
}
