/*
 * Hash routes of the console (no server routes needed: the server serves one
 * index.html). Pure (no DOM): tested under Node.
 */

export type Route =
  | { page: 'login' }
  | { page: 'join'; code: string }
  | { page: 'apps' }
  | { page: 'logs'; app: string }
  | { page: 'access'; app: string }
  | { page: 'store' }
  | { page: 'users' }
  | { page: 'certificates' }
  | { page: 'settings' }
  | { page: 'open'; app: string }
  | { page: 'not-found'; path: string };

/** Pages anyone may see without a session. */
export function isPublic(route: Route): boolean {
  return route.page === 'login' || route.page === 'join';
}

const APP_ID = /^[a-z][a-z0-9-]{1,62}$/;
const CODE = /^[A-Za-z0-9_-]{1,256}$/;

/** The route of a location hash such as `#/apps` (an empty hash is the apps page). */
export function parseHash(hash: string): Route {
  const path = hash.replace(/^#/, '').split('?')[0] ?? '';
  const parts = path.split('/').filter((p) => p !== '');
  const [first, second, third] = parts.map(safeDecode);
  if (parts.length === 0) return { page: 'apps' };
  if (parts.length === 1) {
    switch (first) {
      case 'login':
      case 'apps':
      case 'store':
      case 'users':
      case 'certificates':
      case 'settings':
        return { page: first };
    }
  }
  if (parts.length === 2 && first === 'join' && second && CODE.test(second))
    return { page: 'join', code: second };
  if (parts.length === 2 && first === 'open' && second && APP_ID.test(second))
    return { page: 'open', app: second };
  if (parts.length === 3 && first === 'apps' && second && APP_ID.test(second)) {
    if (third === 'logs') return { page: 'logs', app: second };
    if (third === 'access') return { page: 'access', app: second };
  }
  return { page: 'not-found', path };
}

/** The hash of a route (the inverse of parseHash). */
export function hashOf(route: Route): string {
  switch (route.page) {
    case 'join':
      return `#/join/${encodeURIComponent(route.code)}`;
    case 'open':
      return `#/open/${encodeURIComponent(route.app)}`;
    case 'logs':
      return `#/apps/${encodeURIComponent(route.app)}/logs`;
    case 'access':
      return `#/apps/${encodeURIComponent(route.app)}/access`;
    case 'not-found':
      return `#${route.path}`;
    default:
      return `#/${route.page}`;
  }
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return '';
  }
}
