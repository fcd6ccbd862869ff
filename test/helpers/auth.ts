import assert from 'node:assert/strict';
import type { TestManager } from './manager.js';

/*
 * Credentials for tests that drive a test manager over REST: the first root
 * (its one-time password replaced by a known one), more users, and tokens.
 */

/** What {@link rootSession} sets as root's password. */
export const ROOT_PASSWORD = 'root-password-for-tests';

/**
 * A root login session. On a fresh manager this logs in with the one-time
 * password and changes it to {@link ROOT_PASSWORD}; later it just logs in.
 */
export async function rootSession(m: TestManager): Promise<string> {
  const oneTime = m.manager.initialRootPassword;
  const current = oneTime ?? ROOT_PASSWORD;
  const login = await m.call('POST', '/api/v1/auth/login', { body: { name: 'root', password: current } });
  assert.equal(login.status, 200, `root login: ${JSON.stringify(login.body)}`);
  if (login.body.user.must_change_password) {
    const changed = await m.call('POST', '/api/v1/users/me/password', {
      token: login.body.token,
      body: { current_password: current, new_password: ROOT_PASSWORD },
    });
    assert.equal(changed.status, 204, `root password change: ${JSON.stringify(changed.body)}`);
  }
  return login.body.token as string;
}

/** Creates a user (as root) and returns a login session of theirs. */
export async function userSession(
  m: TestManager,
  rootToken: string,
  name: string,
  role: 'root' | 'guest',
  password = `${name}-password-123`,
): Promise<{ token: string; id: string; password: string }> {
  const made = await m.call('POST', '/api/v1/users', { token: rootToken, body: { name, role, password } });
  assert.equal(made.status, 201, `create user ${name}: ${JSON.stringify(made.body)}`);
  const login = await m.call('POST', '/api/v1/auth/login', { body: { name, password } });
  assert.equal(login.status, 200, `login ${name}: ${JSON.stringify(login.body)}`);
  return { token: login.body.token, id: made.body.id, password };
}

/** Creates a personal access token with a session; returns its secret and id. */
export async function createToken(
  m: TestManager,
  session: string,
  scopes: string[],
  options: { name?: string; expires_in?: string } = {},
): Promise<{ token: string; id: string }> {
  const made = await m.call('POST', '/api/v1/tokens', {
    token: session,
    body: { name: options.name ?? `t-${scopes.join('-')}`, scopes, expires_in: options.expires_in ?? '1d' },
  });
  assert.equal(made.status, 201, `create token: ${JSON.stringify(made.body)}`);
  return { token: made.body.token, id: made.body.id };
}
