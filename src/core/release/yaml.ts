import { isAlias, isNode, parseAllDocuments, visit } from 'yaml';
import { ReleaseError } from './types.js';

/**
 * Parsing the release's YAML documents defensively. The format needs no
 * anchors, aliases, tags, merge keys or second documents, so all of them are
 * refused rather than bounded: an alias bomb ("billion laughs") never gets
 * expanded because no alias is ever accepted. Pure: no I/O.
 */

/** Deeper nesting than any compose file needs; bounds the recursion of every walker after the parser. */
export const MAX_YAML_DEPTH = 32;

const PARSE_OPTIONS = {
  version: '1.2',
  schema: 'core',
  merge: false,
  uniqueKeys: true,
  stringKeys: true,
  strict: true,
  prettyErrors: false,
  maxAliasCount: 0,
} as const;

/**
 * The single YAML document in `bytes`, as plain JSON-like data.
 * `entry` names the file in error messages (`app.yml`).
 */
export function parseReleaseYaml(entry: string, bytes: Buffer, maxBytes: number): unknown {
  if (bytes.length > maxBytes) {
    throw new ReleaseError('YAML_TOO_LARGE', entry, `${bytes.length} bytes; the limit is ${maxBytes}`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new ReleaseError('YAML_NOT_UTF8', entry, 'is not valid UTF-8');
  }
  checkFlowDepth(entry, text);
  try {
    return parseText(entry, text);
  } catch (err) {
    if (err instanceof RangeError) {
      throw new ReleaseError('YAML_TOO_DEEP', entry, 'nesting too deep to parse');
    }
    throw err;
  }
}

function parseText(entry: string, text: string): unknown {
  const docs = parseAllDocuments(text, PARSE_OPTIONS);
  if (docs.length === 0) throw new ReleaseError('YAML_INVALID', entry, 'has no document');
  if (docs.length !== 1) {
    throw new ReleaseError(
      'YAML_MULTI_DOCUMENT',
      entry,
      `has ${docs.length} documents; exactly one is allowed`,
    );
  }
  const doc = docs[0]!;
  for (const error of doc.errors) {
    const where = `${entry}: line ${lineOf(text, error.pos[0])}`;
    if (/call stack/i.test(error.message)) {
      throw new ReleaseError('YAML_TOO_DEEP', entry, 'nesting too deep to parse');
    }
    if (error.code === 'DUPLICATE_KEY') {
      throw new ReleaseError('YAML_DUPLICATE_KEY', where, 'a mapping has the same key twice');
    }
    if (error.code === 'BAD_ALIAS' || error.code === 'ALIAS_PROPS') {
      throw new ReleaseError('YAML_ALIAS', where, 'anchors and aliases are not allowed');
    }
    throw new ReleaseError('YAML_SYNTAX', where, firstLine(error.message));
  }
  visit(doc, (_key, node, path) => {
    if (path.length > MAX_YAML_DEPTH * 2 + 2) {
      throw new ReleaseError('YAML_TOO_DEEP', entry, `nested deeper than ${MAX_YAML_DEPTH} levels`);
    }
    if (isAlias(node)) throw new ReleaseError('YAML_ALIAS', entry, `alias *${node.source} is not allowed`);
    if (isNode(node)) {
      if (node.anchor) throw new ReleaseError('YAML_ALIAS', entry, `anchor &${node.anchor} is not allowed`);
      // Tags could turn text into binary or other types; the format has only plain YAML.
      if (node.tag) {
        throw new ReleaseError('YAML_TAG', entry, `explicit tag ${node.tag} is not allowed`);
      }
    }
  });
  return doc.toJS({ maxAliasCount: 0 });
}

/**
 * A cheap scan before parsing: brackets nested past the limit would make the
 * parser recurse (slowly, then out of stack). Brackets inside strings count
 * too, which only makes it stricter.
 */
function checkFlowDepth(entry: string, text: string): void {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      if (++depth > MAX_YAML_DEPTH * 2) {
        throw new ReleaseError(
          'YAML_TOO_DEEP',
          `${entry}: line ${lineOf(text, i)}`,
          'brackets nested too deep',
        );
      }
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth--;
  }
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

function firstLine(message: string): string {
  return message.split('\n', 1)[0]!.slice(0, 200);
}
