import { Type } from '@sinclair/typebox';
import { Page, PageQuery } from '../../core/http/pagination.js';
import { CERTIFICATE_NAME } from '../../core/tls.js';
import type { ManagerContext } from '../context.js';
import { principalOf } from '../http/access.js';
import type { ManagerApp } from '../http/app.js';

const CertificateJson = Type.Object({
  serial: Type.String({ description: 'lower-case hex, no leading zeros' }),
  name: Type.String(),
  role: Type.String(),
  hosts: Type.Array(Type.String()),
  issued_at: Type.String(),
  not_after: Type.String(),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
  revoked_by: Type.Union([Type.String(), Type.Null()]),
});
const Name = Type.String({ pattern: CERTIFICATE_NAME.source });

/**
 * Certificates the built-in CA issued, and their revocation. A revoked
 * serial reaches schedulers and peers on their next Sync, which then refuse
 * connections presenting it.
 */
export async function certificateRoutes(app: ManagerApp, ctx: ManagerContext): Promise<void> {
  app.get(
    '/api/v1/certificates',
    {
      config: { access: { scope: 'read' } },
      schema: {
        summary: 'List issued certificates, newest first',
        querystring: Type.Intersect([PageQuery, Type.Object({ name: Type.Optional(Name) })]),
        response: { 200: Page(CertificateJson) },
      },
    },
    async (req) => ctx.ca.list(req.query),
  );

  app.post(
    '/api/v1/certificates/:serial/revoke',
    {
      config: { access: { scope: 'cluster', write: true } },
      schema: {
        summary: 'Revoke one certificate',
        params: Type.Object({ serial: Type.String({ pattern: '^[0-9A-Fa-f:]{1,128}$' }) }),
        response: { 200: Type.Object({ certificate: CertificateJson, changed: Type.Boolean() }) },
      },
    },
    async (req) => {
      const actor = principalOf(req).userName;
      const result = await ctx.ca.revoke(req.params.serial, actor);
      if (result.changed) {
        await ctx.audit.record({
          actor,
          action: 'certificate.revoke',
          target: result.certificate.serial,
          address: req.ip,
          detail: { name: result.certificate.name, role: result.certificate.role },
        });
      }
      return result;
    },
  );

  app.post(
    '/api/v1/certificates/revoke',
    {
      config: { access: { scope: 'cluster', write: true } },
      schema: {
        summary: 'Revoke every live certificate of a component (by name): it must enrol again',
        body: Type.Object({ name: Name }, { additionalProperties: false }),
        response: { 200: Type.Object({ revoked: Type.Array(Type.String()) }) },
      },
    },
    async (req) => {
      const actor = principalOf(req).userName;
      const revoked = await ctx.ca.revokeName(req.body.name, actor);
      if (revoked.length > 0) {
        await ctx.audit.record({
          actor,
          action: 'certificate.revoke_name',
          target: req.body.name,
          address: req.ip,
          detail: { serials: revoked },
        });
      }
      return { revoked };
    },
  );
}
