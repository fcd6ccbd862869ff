/*
 * What an API error means to a person. Pure (no DOM): the console tests run
 * it under Node. The server's own message stays visible beside it as the
 * detail, and the code is shown small, for support.
 */

const FRIENDLY: Record<string, string> = {
  INVALID_CREDENTIALS: 'The name or password is wrong.',
  TOTP_REQUIRED: 'Enter the 6-digit code from your authenticator app.',
  TOTP_INVALID: 'That authenticator code is wrong or has expired. Try the current code.',
  INVALID_TOTP: 'That authenticator code is wrong or has expired. Try the current code.',
  RATE_LIMITED: 'Too many attempts in a short time. Wait a moment, then try again.',
  CSRF_REFUSED:
    'The cloud refused this request because it did not come from this page. Reload the page and try again.',
  UNAUTHORIZED: 'You are not signed in, or your session has ended. Sign in again.',
  UNAUTHENTICATED: 'You are not signed in, or your session has ended. Sign in again.',
  SESSION_EXPIRED: 'Your session has ended. Sign in again.',
  FORBIDDEN: 'You do not have permission to do this.',
  NO_ACCESS: 'You have not been given access to this app. Ask an admin.',
  NOT_FOUND: 'That was not found. It may have been removed.',
  APP_NOT_FOUND: 'That app is not installed (any more).',
  USER_NOT_FOUND: 'That user does not exist (any more).',
  LAST_ADMIN: 'This would leave the cloud without an admin. Make another user an admin first.',
  BAD_REQUEST: 'Some of what was entered is not valid.',
  CONFLICT: 'This conflicts with the current state. Reload and try again.',
  NAME_TAKEN: 'That name is already taken. Choose another.',
  USER_EXISTS: 'That name is already taken. Choose another.',
  INVITATION_INVALID:
    'This invitation link is not valid, was already used, or has expired. Ask for a new one.',
  WEAK_PASSWORD: 'That password is too weak. Use a longer one.',
  PASSWORD_CHANGE_REQUIRED: 'You must choose a new password before you continue.',
  MUST_CHANGE_PASSWORD: 'You must choose a new password before you continue.',
  TOO_LARGE: 'What was sent is too large.',
  DOCKER_UNAVAILABLE: 'App installs need a Docker Engine, and none is reachable on this machine.',
  ALREADY_INSTALLED: 'This app is already installed.',
  APP_BUSY: 'The app is busy with another step. Wait until it finishes.',
  INDEX_ROLLBACK:
    'The store sent an older index than one seen before, so it was refused. The last good list is shown.',
  INDEX_EXPIRED: 'The store’s index has expired, so it was refused. Try again later.',
  INDEX_SIGNATURE: 'The store’s index is not signed correctly, so it was refused.',
  STORE_UNREACHABLE: 'The app store could not be reached. Try again later.',
  SIGNATURE_INVALID: 'The release’s signature does not match its maintainer’s key. It was not installed.',
  DIGEST_MISMATCH: 'The downloaded release does not match the store’s index. It was not installed.',
  CERT_INVALID: 'The certificate was refused.',
  KEY_MISMATCH: 'The private key does not belong to this certificate.',
  CHAIN_INCOMPLETE: 'The certificate chain is incomplete. Include the intermediate certificates.',
  CERT_EXPIRED: 'The certificate has expired.',
  NAME_MISMATCH: 'The certificate does not cover this cloud’s domain and its wildcard.',
  ACME_FAILED: 'The certificate authority did not issue a certificate.',
  NETWORK: 'The cloud could not be reached. Check your connection and try again.',
  INTERNAL: 'Something went wrong on the server. Try again; if it keeps happening, check the server’s log.',
};

const BY_STATUS: Record<number, string> = {
  400: 'Some of what was entered is not valid.',
  401: 'You are not signed in, or your session has ended. Sign in again.',
  403: 'You do not have permission to do this.',
  404: 'That was not found.',
  409: 'This conflicts with the current state. Reload and try again.',
  413: 'What was sent is too large.',
  422: 'This was refused as not valid.',
  429: 'Too many attempts in a short time. Wait a moment, then try again.',
  502: 'A service the cloud depends on answered with an error.',
  503: 'The cloud is not ready for this right now. Try again shortly.',
};

/** A sentence for a person, from an error code and HTTP status (0: no answer at all). */
export function friendlyMessage(code: string, status: number, serverMessage: string): string {
  const known = FRIENDLY[code];
  if (known) return known;
  if (code.startsWith('RELEASE_') || code.startsWith('ZIP_') || code.startsWith('COMPOSE_')) {
    return 'The app’s release was refused by the checks on this cloud. It was not installed.';
  }
  if (code.startsWith('INDEX_')) return 'The store’s index was refused. The last good list is kept.';
  if (code.startsWith('ACME_')) return 'Getting a certificate from the certificate authority failed.';
  if (status === 0) return FRIENDLY.NETWORK!;
  if (status >= 500 && !BY_STATUS[status]) return FRIENDLY.INTERNAL!;
  return BY_STATUS[status] ?? sentence(serverMessage);
}

/** The server's message as a sentence: first letter up, a final full stop. */
export function sentence(text: string): string {
  const t = text.trim();
  if (!t) return 'Something went wrong.';
  const first = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

/** Parses an error body `{error:{code,message}}`; undefined when it is not one. */
export function parseErrorBody(text: string): { code: string; message: string } | undefined {
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    const { code, message } = body.error ?? {};
    if (typeof code === 'string' && typeof message === 'string') return { code, message };
  } catch {
    // not JSON
  }
  return undefined;
}
