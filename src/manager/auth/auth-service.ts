import type { Principal } from '../http/access.js';
import type { Authenticator } from '../http/app.js';

/** Users, sessions and personal access tokens (issue 3: being built). */
export class AuthService implements Authenticator {
  async authenticate(_bearer: string, _address: string): Promise<Principal | undefined> {
    return undefined;
  }
}
