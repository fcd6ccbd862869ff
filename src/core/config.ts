import { readFileSync } from 'node:fs';
import { Kind, type Static, type TObject, type TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parse as parseYaml } from 'yaml';
import { WarrenError } from './errors.js';

/**
 * Configuration is layered: schema defaults < YAML file < `WARREN_*`
 * environment < command-line flags. The merged result is validated against
 * the role's TypeBox schema; an unknown or bad key is an error that names it.
 *
 * Environment names are the key path in SCREAMING_SNAKE joined by `__`:
 * `upload.rateLimit` is `WARREN_UPLOAD__RATE_LIMIT`.
 */
export interface ConfigSources {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Already-parsed flags, keyed by the schema's (camelCase) path with dots. */
  flags?: Record<string, unknown>;
}

export function loadConfig<T extends TObject>(schema: T, sources: ConfigSources): Static<T> {
  let merged: Record<string, unknown> = {};
  if (sources.file) merged = readYaml(sources.file);
  checkUnknownKeys(schema, merged, sources.file ?? 'config');
  applyEnv(schema, merged, sources.env ?? process.env, []);
  for (const [path, value] of Object.entries(sources.flags ?? {})) {
    if (value !== undefined) setPath(merged, path.split('.'), value);
  }
  checkUnknownKeys(schema, merged, 'flags');
  const withDefaults = Value.Default(schema, Value.Convert(schema, merged));
  const errors = [...Value.Errors(schema, withDefaults)];
  if (errors.length > 0) {
    const first = errors[0]!;
    const key = first.path.replace(/^\//, '').replaceAll('/', '.') || '(root)';
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration key '${key}': ${first.message} (got ${JSON.stringify(first.value)})`,
      400,
    );
  }
  return withDefaults as Static<T>;
}

function readYaml(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new WarrenError('CONFIG_UNREADABLE', `cannot read configuration file ${file}: ${String(err)}`, 400);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { maxAliasCount: 100, uniqueKeys: true });
  } catch (err) {
    throw new WarrenError(
      'CONFIG_INVALID',
      `configuration file ${file} is not valid YAML: ${String(err)}`,
      400,
    );
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new WarrenError('CONFIG_INVALID', `configuration file ${file} must hold a mapping of keys`, 400);
  }
  return doc as Record<string, unknown>;
}

function checkUnknownKeys(schema: TSchema, value: unknown, where: string, path: string[] = []): void {
  if (schema[Kind] !== 'Object' || typeof value !== 'object' || value === null || Array.isArray(value))
    return;
  const properties = (schema as TObject).properties;
  for (const [key, child] of Object.entries(value)) {
    const sub = properties[key];
    if (!sub) {
      const known = Object.keys(properties).join(', ');
      throw new WarrenError(
        'CONFIG_UNKNOWN_KEY',
        `unknown configuration key '${[...path, key].join('.')}' in ${where} (known: ${known})`,
        400,
      );
    }
    checkUnknownKeys(sub, child, where, [...path, key]);
  }
}

function applyEnv(schema: TObject, target: Record<string, unknown>, env: NodeJS.ProcessEnv, path: string[]) {
  for (const [key, sub] of Object.entries(schema.properties)) {
    const full = [...path, key];
    if (sub[Kind] === 'Object') {
      applyEnv(sub as TObject, target, env, full);
      continue;
    }
    const name = envName(full);
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    setPath(target, full, sub[Kind] === 'Array' ? raw.split(',').map((s) => s.trim()) : raw);
  }
}

/** ['upload', 'rateLimit'] -> 'WARREN_UPLOAD__RATE_LIMIT' */
export function envName(path: string[]): string {
  return `WARREN_${path.map((p) => p.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()).join('__')}`;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}
