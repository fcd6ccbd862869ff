import { type Client, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import type { TlsMaterial } from '../core/tls.js';
import { SchedulerService } from './gen/scheduler_pb.js';

/** A typed scheduler client over HTTP/2 with mutual TLS. */
export function createSchedulerClient(options: {
  address: string;
  tls: TlsMaterial;
}): Client<typeof SchedulerService> {
  const transport = createGrpcTransport({
    baseUrl: `https://${options.address}`,
    nodeOptions: { ca: options.tls.ca, cert: options.tls.cert, key: options.tls.key },
  });
  return createClient(SchedulerService, transport);
}
