/**
 * Strict Semantic Versioning 2.0.0 (https://semver.org): parsing and the
 * precedence order the store sorts versions by and an instance uses to refuse
 * a downgrade. No leading `v`, no ranges, no loose forms: a release names one
 * exact version.
 */

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  /** Dot-separated pre-release identifiers; empty for a release. Numeric ones are numbers. */
  prerelease: Array<string | number>;
  /** Build metadata identifiers: kept, ignored by precedence. */
  build: string[];
}

/** Long enough for any real version; bounds the work on hostile input. */
export const MAX_SEMVER_LENGTH = 128;

const NUMERIC = /^(?:0|[1-9][0-9]*)$/;
const ALPHANUMERIC = /^[0-9A-Za-z-]+$/;

/** The version's parts, or undefined when `text` is not a strict semver 2.0 version. */
export function parseSemver(text: string): SemVer | undefined {
  if (text.length === 0 || text.length > MAX_SEMVER_LENGTH) return undefined;
  const plus = text.indexOf('+');
  const withoutBuild = plus === -1 ? text : text.slice(0, plus);
  const buildText = plus === -1 ? undefined : text.slice(plus + 1);
  const dash = withoutBuild.indexOf('-');
  const core = dash === -1 ? withoutBuild : withoutBuild.slice(0, dash);
  const preText = dash === -1 ? undefined : withoutBuild.slice(dash + 1);

  const parts = core.split('.');
  if (parts.length !== 3) return undefined;
  const numbers: number[] = [];
  for (const part of parts) {
    const n = numericIdentifier(part);
    if (n === undefined) return undefined;
    numbers.push(n);
  }

  const prerelease: Array<string | number> = [];
  if (preText !== undefined) {
    for (const id of preText.split('.')) {
      if (!ALPHANUMERIC.test(id)) return undefined;
      if (/^[0-9]+$/.test(id)) {
        const n = numericIdentifier(id);
        if (n === undefined) return undefined;
        prerelease.push(n);
      } else {
        prerelease.push(id);
      }
    }
  }

  const build: string[] = [];
  if (buildText !== undefined) {
    for (const id of buildText.split('.')) {
      if (!ALPHANUMERIC.test(id)) return undefined;
      build.push(id);
    }
  }
  return { major: numbers[0]!, minor: numbers[1]!, patch: numbers[2]!, prerelease, build };
}

/** A numeric identifier without leading zeros that fits exactly in a double. */
function numericIdentifier(text: string): number | undefined {
  if (!NUMERIC.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function isSemver(text: string): boolean {
  return parseSemver(text) !== undefined;
}

/**
 * Precedence (semver §11): negative when `a` comes before `b`, 0 when they
 * have equal precedence (build metadata is ignored), positive after.
 * Throws on an invalid version, so a caller never sorts garbage silently.
 */
export function compareSemver(a: string | SemVer, b: string | SemVer): number {
  const x = typeof a === 'string' ? mustParse(a) : a;
  const y = typeof b === 'string' ? mustParse(b) : b;
  for (const key of ['major', 'minor', 'patch'] as const) {
    if (x[key] !== y[key]) return x[key] < y[key] ? -1 : 1;
  }
  // A pre-release comes before its release.
  if (x.prerelease.length === 0 && y.prerelease.length === 0) return 0;
  if (x.prerelease.length === 0) return 1;
  if (y.prerelease.length === 0) return -1;
  const n = Math.min(x.prerelease.length, y.prerelease.length);
  for (let i = 0; i < n; i++) {
    const order = compareIdentifier(x.prerelease[i]!, y.prerelease[i]!);
    if (order !== 0) return order;
  }
  return Math.sign(x.prerelease.length - y.prerelease.length);
}

/** Numeric identifiers compare as numbers and before alphanumeric ones, which compare in ASCII order. */
function compareIdentifier(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return Math.sign(a - b);
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function mustParse(text: string): SemVer {
  const parsed = parseSemver(text);
  if (!parsed) throw new TypeError(`not a semantic version: ${JSON.stringify(text.slice(0, 40))}`);
  return parsed;
}
