import { type Static, Type } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { WarrenError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { type ClusterScopes, EMPTY_SCOPES, hostnamePatternProblem, parseCidr } from './locality.js';

/**
 * A cluster's configuration, handed to its components on every Sync. Only
 * keys that components apply are here: the scheduler's parent limits and the
 * peers' GC policy (seed peers are peers too).
 */
export const ClusterConfigSchema = Type.Object(
  {
    scheduler: Type.Optional(
      Type.Object(
        {
          candidateParentLimit: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 20, description: 'parents sent to a peer at once' }),
          ),
          filterParentLimit: Type.Optional(
            Type.Integer({ minimum: 1, maximum: 1000, description: 'candidates scored per decision' }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    peer: Type.Optional(
      Type.Object(
        {
          gc: Type.Optional(
            Type.Object(
              {
                ttl: Type.Optional(
                  Type.String({ maxLength: 32, description: "tasks unused this long are removed ('720h')" }),
                ),
                highWatermark: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
                lowWatermark: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
              },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type ClusterConfig = Static<typeof ClusterConfigSchema>;

const Rules = (item: ReturnType<typeof Type.String>, description: string) =>
  Type.Optional(Type.Array(item, { maxItems: 100, description }));

/** Locality rules on the wire; every list is optional and bounded. */
export const ClusterScopesSchema = Type.Object(
  {
    cidrs: Rules(Type.String({ minLength: 1, maxLength: 64 }), "CIDR blocks ('10.0.0.0/8')"),
    hostnames: Rules(Type.String({ minLength: 1, maxLength: 256 }), 'host-name regular expressions'),
    idcs: Rules(Type.String({ minLength: 1, maxLength: 128 }), 'IDC labels'),
    locations: Rules(Type.String({ minLength: 1, maxLength: 256 }), "location prefixes 'country|region'"),
  },
  { additionalProperties: false },
);
export type ClusterScopesInput = Static<typeof ClusterScopesSchema>;

/** Checks what the schema cannot: durations, watermark order, CIDRs, regexes. Throws 400 naming the key. */
export function checkClusterConfig(config: ClusterConfig): ClusterConfig {
  const bad = (key: string, why: string) =>
    new WarrenError('BAD_REQUEST', `cluster config '${key}' ${why}`, 400);
  const gc = config.peer?.gc;
  if (gc?.ttl !== undefined) {
    try {
      parseDuration(gc.ttl, 'peer.gc.ttl');
    } catch {
      throw bad('peer.gc.ttl', `is not a duration: '${gc.ttl}' (use e.g. '720h')`);
    }
  }
  if (
    gc?.highWatermark !== undefined &&
    gc.lowWatermark !== undefined &&
    gc.lowWatermark > gc.highWatermark
  ) {
    throw bad('peer.gc.lowWatermark', 'is above peer.gc.highWatermark');
  }
  const s = config.scheduler;
  if (s?.candidateParentLimit !== undefined && s.filterParentLimit !== undefined) {
    if (s.filterParentLimit < s.candidateParentLimit) {
      throw bad('scheduler.filterParentLimit', 'is below scheduler.candidateParentLimit');
    }
  }
  return config;
}

/** Fills missing lists and checks every rule. Throws 400 naming the bad rule. */
export function checkClusterScopes(input: ClusterScopesInput): ClusterScopes {
  const scopes: ClusterScopes = {
    cidrs: input.cidrs ?? [],
    hostnames: input.hostnames ?? [],
    idcs: input.idcs ?? [],
    locations: input.locations ?? [],
  };
  for (const cidr of scopes.cidrs) {
    if (!parseCidr(cidr)) {
      throw new WarrenError('BAD_REQUEST', `scopes.cidrs: '${cidr}' is not a CIDR block`, 400);
    }
  }
  for (const pattern of scopes.hostnames) {
    const problem = hostnamePatternProblem(pattern);
    if (problem) throw new WarrenError('BAD_REQUEST', `scopes.hostnames: '${pattern}' ${problem}`, 400);
  }
  return scopes;
}

/** Reads stored JSON back; a row written by an older version that no longer validates yields defaults. */
export function parseStoredConfig(json: string): ClusterConfig {
  const value = safeParse(json);
  return Value.Check(ClusterConfigSchema, value) ? value : {};
}

export function parseStoredScopes(json: string): ClusterScopes {
  const value = safeParse(json);
  if (!Value.Check(ClusterScopesSchema, value)) return EMPTY_SCOPES;
  return { ...EMPTY_SCOPES, ...value };
}

function safeParse(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}
