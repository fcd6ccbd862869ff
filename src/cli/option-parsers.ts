import { WarrenError } from '../core/errors.js';

/** Repeatable option collector for commander: `-H a -H b` gives ['a', 'b']. */
export const collect = (value: string, previous: string[]) => [...previous, value];

/** `-H 'Name: value'` lines as a header map. */
export function parseHeaderLines(lines: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0)
      throw new WarrenError('BAD_HEADER', `header '${line}' is not of the form 'Name: value'`, 400);
    headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
  }
  return headers;
}
