import { type Static, Type } from '@sinclair/typebox';
import type { AuditLog } from '../../core/db/audit-log.js';
import { isWarrenError, WarrenError } from '../../core/errors.js';
import type { RestApp } from '../../core/http/app.js';
import type { AcmeManager } from '../certs/acme.js';
import type { CertificateStore } from '../certs/certificate-store.js';
import { PEM_MAX_BYTES } from '../certs/validate-upload.js';
import type { CloudDatabase } from '../db/schema.js';
import { principalOf } from '../http/access.js';

export interface CertificateRouteDeps {
  store: CertificateStore;
  acme: AcmeManager;
  audit: Pick<AuditLog<CloudDatabase>, 'record' | 'recordQuietly'>;
}

const TxtRecordJson = Type.Object({ name: Type.String(), value: Type.String() });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/** GET/PUT /api/v1/certificate and the end of an ACME order answer this. */
export const CertificateJson = Type.Object({
  source: Type.Union([Type.Literal('self-signed'), Type.Literal('uploaded'), Type.Literal('acme')]),
  names: Type.Array(Type.String()),
  not_before: Type.String(),
  not_after: Type.String(),
  days_left: Type.Integer(),
  fingerprint_sha256: Type.String(),
  /** Everything to warn about, in words (self-signed, expiry, names, renewal), or null. */
  warning: Nullable(Type.String()),
  acme: Type.Object({
    state: Type.Union([Type.Literal('idle'), Type.Literal('pending'), Type.Literal('validating')]),
    pending: Type.Union([
      Type.Object({
        order_id: Type.String(),
        txt_records: Type.Array(TxtRecordJson),
        created_at: Type.String(),
      }),
      Type.Null(),
    ]),
    last_error: Nullable(Type.String()),
    dns_hook: Type.Boolean(),
    renew_at: Type.String(),
    renewal_error: Nullable(Type.String()),
    next_renewal_attempt_at: Nullable(Type.String()),
  }),
});
type CertificateJson = Static<typeof CertificateJson>;

const PemString = (description: string) =>
  Type.String({ minLength: 1, maxLength: PEM_MAX_BYTES, description });

/** The served certificate, its upload, and ACME DNS-01 orders (writes: admin). */
export function registerCertificateRoutes(app: RestApp, deps: CertificateRouteDeps): void {
  const { store, acme, audit } = deps;

  const json = (): CertificateJson => {
    const summary = store.summary();
    const warnings = store.warnings();
    const status = acme.status();
    const renewal = store.renewalStatus();
    return {
      source: store.current().source,
      names: summary.names,
      not_before: summary.notBefore,
      not_after: summary.notAfter,
      days_left: summary.daysLeft,
      fingerprint_sha256: summary.fingerprintSha256,
      warning: warnings.length > 0 ? warnings.join(' ') : null,
      acme: {
        state: status.state,
        pending: status.pending
          ? {
              order_id: status.pending.orderId,
              txt_records: status.pending.txtRecords,
              created_at: status.pending.createdAt,
            }
          : null,
        last_error: status.lastError,
        dns_hook: status.dnsHook,
        renew_at: renewal.renewAt,
        renewal_error: renewal.lastError,
        next_renewal_attempt_at: renewal.nextAttemptAt,
      },
    };
  };

  const names = () => ({
    names: store.summary().names,
    not_after: store.summary().notAfter,
    fingerprint_sha256: store.summary().fingerprintSha256,
  });

  app.get(
    '/api/v1/certificate',
    {
      config: { access: {} },
      schema: {
        summary: 'The certificate the gateway serves, with warnings',
        response: { 200: CertificateJson },
      },
    },
    async () => json(),
  );

  app.put(
    '/api/v1/certificate',
    {
      config: { access: { admin: true } },
      bodyLimit: 3 * PEM_MAX_BYTES,
      schema: {
        summary: 'Upload a certificate chain (leaf first) and its private key, in PEM (admin)',
        body: Type.Object(
          {
            certificate_pem: PemString("the server's certificate, then the intermediates"),
            key_pem: PemString('the private key, unencrypted'),
          },
          { additionalProperties: false },
        ),
        response: { 200: CertificateJson },
      },
    },
    async (req) => {
      const actor = principalOf(req).name;
      try {
        await store.install('uploaded', {
          certificatePem: req.body.certificate_pem,
          keyPem: req.body.key_pem,
        });
      } catch (err) {
        if (isWarrenError(err)) {
          await audit.recordQuietly({
            actor,
            action: 'certificate.upload_refused',
            target: 'certificate',
            address: req.ip,
            detail: { reason: err.code },
          });
        }
        throw err;
      }
      await audit.record({
        actor,
        action: 'certificate.upload',
        target: 'certificate',
        address: req.ip,
        detail: names(),
      });
      return json();
    },
  );

  app.post(
    '/api/v1/certificate/acme',
    {
      config: { access: { admin: true } },
      schema: {
        summary:
          'Order a wildcard certificate by ACME DNS-01 (admin): returns the TXT records to create, or, with a DNS hook, completes by itself',
        body: Type.Object(
          {
            email: Type.String({ minLength: 3, maxLength: 254 }),
            directory_url: Type.Optional(Type.String({ minLength: 9, maxLength: 500, pattern: '^https://' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            order_id: Type.String(),
            txt_records: Type.Array(TxtRecordJson),
            /** 'pending': create the records, then POST …/acme/complete; 'validating': the DNS hook is at work. */
            status: Type.Union([Type.Literal('pending'), Type.Literal('validating')]),
          }),
        },
      },
    },
    async (req) => {
      const actor = principalOf(req).name;
      // The directory is the operator's choice (configuration): a URL from the
      // request would let the console make the server call any https:// host.
      const configured = acme.directoryUrl;
      if (req.body.directory_url && req.body.directory_url !== configured) {
        throw new WarrenError(
          'ACME_DIRECTORY_NOT_ALLOWED',
          `this instance orders from ${configured}; another ACME directory is set in the configuration ('acme.directoryUrl')`,
          400,
        );
      }
      const { order, completion } = await acme.begin({ email: req.body.email });
      await audit.record({
        actor,
        action: 'certificate.acme_order',
        target: 'certificate',
        address: req.ip,
        detail: {
          order_id: order.orderId,
          directory_url: order.directoryUrl,
          dns_hook: completion !== undefined,
        },
      });
      completion
        ?.then(
          () =>
            audit.recordQuietly({
              actor,
              action: 'certificate.acme_issued',
              target: 'certificate',
              address: req.ip,
              detail: names(),
            }),
          (err: unknown) =>
            audit.recordQuietly({
              actor,
              action: 'certificate.acme_failed',
              target: 'certificate',
              address: req.ip,
              detail: { reason: isWarrenError(err) ? err.code : 'ERROR' },
            }),
        )
        .catch(() => undefined);
      return {
        order_id: order.orderId,
        txt_records: order.txtRecords,
        status: completion ? ('validating' as const) : ('pending' as const),
      };
    },
  );

  app.post(
    '/api/v1/certificate/acme/complete',
    {
      config: { access: { admin: true } },
      schema: {
        summary:
          'Have the CA check the TXT records of the pending order, then install the certificate (admin)',
        response: { 200: CertificateJson },
      },
    },
    async (req) => {
      const actor = principalOf(req).name;
      try {
        await acme.complete();
      } catch (err) {
        await audit.recordQuietly({
          actor,
          action: 'certificate.acme_failed',
          target: 'certificate',
          address: req.ip,
          detail: { reason: isWarrenError(err) ? err.code : 'ERROR' },
        });
        throw err;
      }
      await audit.record({
        actor,
        action: 'certificate.acme_issued',
        target: 'certificate',
        address: req.ip,
        detail: names(),
      });
      return json();
    },
  );
}
