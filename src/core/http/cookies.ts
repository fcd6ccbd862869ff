/**
 * The value of cookie `name` in a Cookie header, or undefined. One parser for
 * every role (the store's and the cloud's sessions, the cloud gateway's app
 * cookie), so that all of them read a header the same way: a whole name only
 * (`x__Host-a` is not `__Host-a`), the first match, surrounding double quotes
 * removed. No allocation beyond the value: the gateway calls it per request.
 */
export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  if (!cookieHeader) return undefined;
  let from = 0;
  while (from < cookieHeader.length) {
    const at = cookieHeader.indexOf(name, from);
    if (at === -1) return undefined;
    const before = at === 0 ? ';' : cookieHeader[at - 1];
    const after = at + name.length;
    // A whole name: preceded by the start, ';' or a space, followed by optional spaces and '='.
    if (before === ';' || before === ' ' || before === '\t') {
      let eq = after;
      while (cookieHeader[eq] === ' ') eq++;
      if (cookieHeader[eq] === '=') {
        const end = cookieHeader.indexOf(';', eq + 1);
        const value = cookieHeader.slice(eq + 1, end === -1 ? undefined : end).trim();
        return value.length >= 2 && value[0] === '"' && value.at(-1) === '"' ? value.slice(1, -1) : value;
      }
    }
    from = after;
  }
  return undefined;
}
