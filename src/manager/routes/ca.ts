import { Type } from '@sinclair/typebox';
import { WarrenError } from '../../core/errors.js';
import { CERTIFICATE_NAME } from '../../core/tls.js';
import { MAX_CSR_CHARS, MAX_HOSTS } from '../ca/csr.js';
import type { ManagerContext } from '../context.js';
import type { ManagerApp } from '../http/app.js';

/** Roles a join token can enrol. */
export const ENROLL_ROLES = ['peer', 'seed', 'scheduler'] as const;

const EnrollBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 512, description: 'join token (wrj_…)' }),
    role: Type.Union(
      ENROLL_ROLES.map((r) => Type.Literal(r)),
      { description: 'the role the certificate carries (OU)' },
    ),
    name: Type.String({
      pattern: CERTIFICATE_NAME.source,
      description: 'component name: the certificate CN and host id',
    }),
    csr: Type.String({
      maxLength: MAX_CSR_CHARS,
      description: 'PKCS#10 request (PEM) for a key kept by the component',
    }),
    hosts: Type.Optional(
      Type.Array(Type.String({ maxLength: 253 }), {
        maxItems: MAX_HOSTS,
        description: 'DNS names / IPs the component is reached at (localhost and loopback are always in)',
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * Deliberately public: the CA certificate (a component pins it by the
 * fingerprint in its join token before trusting anything), and enrolment,
 * whose credential is the join token in the body.
 */
export async function caRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.get(
    '/api/v1/ca',
    {
      config: { access: { public: true } },
      schema: {
        summary: "The built-in CA's certificate and its SHA-256 fingerprint",
        response: {
          200: Type.Object({
            certificate: Type.String({ description: 'PEM' }),
            fingerprint: Type.String({ description: 'SHA-256 of the DER, lower-case hex' }),
          }),
        },
      },
    },
    async () => ({ certificate: ctx.ca.caPem, fingerprint: ctx.ca.fingerprint }),
  );

  app.post(
    '/api/v1/enroll',
    {
      config: { access: { public: true } },
      schema: {
        summary: 'Enrol a component with a join token: sign its CSR',
        body: EnrollBody,
        response: {
          200: Type.Object({
            certificate: Type.String({ description: 'PEM' }),
            ca: Type.String({ description: 'PEM of the CA' }),
            serial: Type.String(),
            not_after: Type.String(),
          }),
        },
      },
    },
    async (req) => {
      const { token, role, name, csr, hosts } = req.body;
      const joiner = await ctx.auth.verifyEnrollToken(token);
      if (!joiner) {
        req.log.warn({ address: req.ip, name, role }, 'enrolment refused: bad join token');
        throw new WarrenError('UNAUTHENTICATED', 'the join token is unknown, expired or revoked', 401);
      }
      const other = (await ctx.ca.liveRoles(name)).find((r) => r !== role);
      if (other) {
        throw new WarrenError(
          'NAME_TAKEN',
          `'${name}' already has a live ${other} certificate; pick another name or revoke that one first`,
          409,
        );
      }
      const issued = await ctx.ca.signCsr(csr, { name, role, hosts }, ctx.settings.certificateLifetimeMs);
      await ctx.audit.record({
        actor: joiner.userName,
        action: 'certificate.enroll',
        target: issued.serial,
        address: req.ip,
        detail: { name, role, hosts: hosts ?? [], token: joiner.tokenId, not_after: issued.notAfter },
      });
      return {
        certificate: issued.certificatePem,
        ca: issued.caPem,
        serial: issued.serial,
        not_after: issued.notAfter,
      };
    },
  );
}
