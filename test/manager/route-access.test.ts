import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sql } from 'kysely';
import { createToken, rootSession, userSession } from '../helpers/auth.js';
import { databaseFactory, databaseKinds, startTestManager, type TestManager } from '../helpers/manager.js';
import { cleanupTempDirs } from '../helpers/tmp.js';

/*
 * Every operation in the OpenAPI document — including ones added after this
 * test was written — is refused to an anonymous caller, an expired token, a
 * revoked token and a token without the operation's scope; session-only,
 * root-only and write operations are refused to the wrong kind of caller.
 * The required access is read from each operation's `x-warren-access`.
 */

after(cleanupTempDirs);

/** The only operations that may answer without a credential. */
const PUBLIC_ALLOWLIST = [
  'GET /api/v1/health',
  'POST /api/v1/auth/login',
  'GET /api/v1/ca',
  'POST /api/v1/enroll',
].sort();

const SCOPES = ['read', 'job', 'cluster'] as const;

interface Access {
  public?: boolean;
  scope?: (typeof SCOPES)[number];
  write?: boolean;
  root?: boolean;
  session?: boolean;
}

interface Operation {
  method: string;
  /** The path with every `{param}` replaced by a syntactically plausible dummy. */
  path: string;
  name: string;
  secured: boolean;
  access: Access | undefined;
}

function operationsOf(doc: { paths: Record<string, Record<string, Record<string, unknown>>> }): Operation[] {
  const ops: Operation[] = [];
  for (const [template, methods] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      if (!['get', 'post', 'put', 'patch', 'delete'].includes(method)) continue;
      const upper = method.toUpperCase();
      ops.push({
        method: upper,
        path: template.replace(/\{[^}]+\}/g, 'xyz'),
        name: `${upper} ${template}`,
        secured: Array.isArray(op.security) && op.security.length > 0,
        access: op['x-warren-access'] as Access | undefined,
      });
    }
  }
  return ops;
}

/** Row counts of every table: a refused request must change none. */
async function tableCounts(m: TestManager): Promise<Record<string, number>> {
  const tables = (await m.manager.ctx.db.introspection.getTables()).map((t) => t.name).sort();
  const counts: Record<string, number> = {};
  for (const table of tables) {
    if (table.startsWith('kysely_')) continue;
    const { rows } = await sql<{ n: number | string }>`select count(*) as n from ${sql.table(table)}`.execute(
      m.manager.ctx.db,
    );
    counts[table] = Number(rows[0]?.n);
  }
  return counts;
}

for (const { kind, skip } of databaseKinds()) {
  describe(`route access on ${kind}`, { skip }, () => {
    const databases = databaseFactory(kind);
    let m: TestManager;
    let ops: Operation[];
    let root: string;
    let guest: string;
    /** Root-owned tokens, each lacking one scope. */
    const lacking: Record<string, string> = {};
    let allScopes: string;
    let expired: string;
    let revoked: string;

    before(async () => {
      m = await startTestManager({
        database: await databases.next(),
        // Hundreds of requests in a row from one address: not what this test is about.
        flags: { 'rateLimit.perAddress': 100_000, 'rateLimit.perToken': 100_000 },
      });
      root = await rootSession(m);
      guest = (await userSession(m, root, 'visitor', 'guest')).token;
      for (const scope of SCOPES) {
        lacking[scope] = (
          await createToken(
            m,
            root,
            SCOPES.filter((s) => s !== scope),
          )
        ).token;
      }
      allScopes = (await createToken(m, root, [...SCOPES])).token;
      const old = await createToken(m, root, [...SCOPES], { name: 'to-expire' });
      // Expired in the database before its first use, so no cache has seen it live.
      await m.manager.ctx.db
        .updateTable('tokens')
        .set({ expires_at: new Date(Date.now() - 60_000).toISOString() })
        .where('id', '=', old.id)
        .execute();
      expired = old.token;
      const gone = await createToken(m, root, [...SCOPES], { name: 'to-revoke' });
      assert.equal((await m.call('GET', '/api/v1/users/me', { token: gone.token })).status, 200);
      assert.equal((await m.call('DELETE', `/api/v1/tokens/${gone.id}`, { token: root })).status, 200);
      revoked = gone.token;
      const doc = await m.call('GET', '/api/v1/openapi.json');
      assert.equal(doc.status, 200);
      ops = operationsOf(doc.body);
    });
    after(async () => {
      await m?.stop();
      databases.close();
    });

    test('the public operations are exactly the allowlist, and say so', () => {
      const open = ops.filter((op) => !op.secured);
      assert.deepEqual(open.map((op) => op.name).sort(), PUBLIC_ALLOWLIST);
      for (const op of open) assert.deepEqual(op.access, { public: true }, op.name);
      // The document is not trivially small: user, token and other roles' routes are in it.
      assert.ok(ops.filter((op) => op.secured).length >= 10, `only ${ops.length} operations`);
    });

    test('every secured operation publishes the scope it needs', () => {
      for (const op of ops.filter((o) => o.secured)) {
        assert.ok(op.access && !op.access.public, `${op.name} has no x-warren-access`);
        assert.ok(SCOPES.includes(op.access.scope!), `${op.name}: scope ${op.access.scope}`);
      }
    });

    test('every secured operation refuses anonymous, expired, revoked and unscoped callers, writing nothing', async () => {
      const before = await tableCounts(m);
      const refusals: string[] = [];
      const expect = async (op: Operation, who: string, token: string | undefined, status: number) => {
        const res = await m.call(op.method, op.path, {
          token,
          ...(['POST', 'PUT', 'PATCH'].includes(op.method) ? { body: {} } : {}),
        });
        if (res.status !== status) {
          refusals.push(`${op.name} as ${who}: ${res.status} ${JSON.stringify(res.body)} (want ${status})`);
        } else {
          assert.equal(typeof res.body?.error?.code, 'string', `${op.name} as ${who}: JSON error`);
        }
      };
      for (const op of ops.filter((o) => o.secured)) {
        const access = op.access!;
        await expect(op, 'anonymous', undefined, 401);
        await expect(op, 'expired token', expired, 401);
        await expect(op, 'revoked token', revoked, 401);
        await expect(op, 'join-token-shaped bearer', `wrj_${'A'.repeat(43)}_${'0'.repeat(64)}`, 401);
        await expect(op, `token without '${access.scope}'`, lacking[access.scope!], 403);
        if (access.session) await expect(op, 'token with every scope', allScopes, 403);
        if (access.root || access.write) await expect(op, 'guest session', guest, 403);
      }
      assert.deepEqual(refusals, []);
      assert.deepEqual(await tableCounts(m), before, 'a refused request changed the database');
    });

    test('the refusals are about the credential: the right one passes the gate', async () => {
      for (const op of ops.filter((o) => o.secured)) {
        // Logging out would end the session the other checks use.
        if (op.name === 'POST /api/v1/auth/logout') continue;
        const access = op.access!;
        const token = access.session ? root : (await createToken(m, root, [access.scope!])).token;
        const res = await m.call(op.method, op.path, {
          token,
          ...(['POST', 'PUT', 'PATCH'].includes(op.method) ? { body: {} } : {}),
        });
        assert.ok(![401, 403].includes(res.status), `${op.name}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    });
  });
}
