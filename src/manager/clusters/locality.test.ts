import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkClusterScopes } from './cluster-config.js';
import {
  type ClusterScopes,
  EMPTY_SCOPES,
  hostnamePatternProblem,
  type MatchableCluster,
  matchCluster,
} from './locality.js';

const cluster = (name: string, scopes: Partial<ClusterScopes>, isDefault = false): MatchableCluster => ({
  id: `cls_${name}`,
  name,
  isDefault,
  scopes: { ...EMPTY_SCOPES, ...scopes },
});

const clusters = [
  cluster('default', {}, true),
  cluster('by-cidr', { cidrs: ['10.1.0.0/16'] }),
  cluster('by-narrow-cidr', { cidrs: ['10.1.2.0/24'] }),
  cluster('by-host', { hostnames: ['web-[0-9]+\\.east'] }),
  cluster('by-idc', { idcs: ['IDC-East'] }),
  cluster('by-location', { locations: ['eu|fr'] }),
  cluster('by-city', { locations: ['eu|fr|paris'] }),
  cluster('v6', { cidrs: ['fd00:1::/32'] }),
];
const host = (h: Partial<{ ip: string; hostname: string; idc: string; location: string }>) => ({
  ip: '',
  hostname: '',
  idc: '',
  location: '',
  ...h,
});
const match = (h: Parameters<typeof host>[0]) => matchCluster(clusters, host(h))?.name;

describe('matchCluster', () => {
  it('falls back to the default cluster when no rule matches', () => {
    assert.equal(match({ ip: '192.168.1.1', hostname: 'x', idc: 'other', location: 'us|ca' }), 'default');
    assert.equal(match({}), 'default');
    assert.equal(matchCluster([cluster('only', { idcs: ['a'] })], host({ idc: 'b' })), undefined);
  });

  it('matches each kind of rule on its own', () => {
    assert.equal(match({ ip: '10.1.9.9' }), 'by-cidr');
    assert.equal(match({ ip: 'fd00:1::5' }), 'v6');
    assert.equal(match({ hostname: 'web-12.east' }), 'by-host');
    assert.equal(match({ hostname: 'xweb-12.east' }), 'default', 'host-name rules match the whole name');
    assert.equal(match({ idc: 'idc-east' }), 'by-idc', 'IDC compares case-insensitively');
    assert.equal(match({ location: 'eu|fr|lyon' }), 'by-location');
    assert.equal(match({ location: 'eu|france' }), 'default', 'location prefixes compare whole elements');
  });

  it("follows Dragonfly's order: CIDR beats host name beats IDC beats location", () => {
    const all = { ip: '10.1.9.9', hostname: 'web-1.east', idc: 'idc-east', location: 'eu|fr|paris' };
    assert.equal(match(all), 'by-cidr');
    assert.equal(match({ ...all, ip: '1.2.3.4' }), 'by-host');
    assert.equal(match({ ...all, ip: '1.2.3.4', hostname: 'db' }), 'by-idc');
    assert.equal(match({ ...all, ip: '1.2.3.4', hostname: 'db', idc: '' }), 'by-city');
  });

  it('prefers the more specific rule of a kind', () => {
    assert.equal(match({ ip: '10.1.2.3' }), 'by-narrow-cidr');
    assert.equal(match({ location: 'eu|fr|paris|11' }), 'by-city');
  });
});

describe('locality rules are validated', () => {
  it('refuses bad CIDRs and regexes that are invalid or can backtrack without bound', () => {
    assert.throws(() => checkClusterScopes({ cidrs: ['10.0.0.0/33'] }), /not a CIDR/);
    assert.throws(() => checkClusterScopes({ cidrs: ['example.com/8'] }), /not a CIDR/);
    assert.throws(() => checkClusterScopes({ hostnames: ['web-(['] }), /not a regular expression/);
    assert.match(hostnamePatternProblem('(a+)+$') ?? '', /nests quantifiers/);
    assert.match(hostnamePatternProblem('((ab)*c)*') ?? '', /nests quantifiers/);
    assert.match(hostnamePatternProblem('(\\w+\\.?){2,}') ?? '', /nests quantifiers/);
    assert.match(hostnamePatternProblem('(a)\\1') ?? '', /back-reference/);
    assert.match(hostnamePatternProblem('a'.repeat(300)) ?? '', /1 to 256/);
    assert.equal(hostnamePatternProblem('web-[0-9]+\\.(east|west)'), undefined);
    assert.equal(hostnamePatternProblem('(node|host)-[a-z]+'), undefined);
    assert.equal(hostnamePatternProblem('[(+]+x'), undefined, 'characters in a class are not groups');
    assert.deepEqual(checkClusterScopes({ cidrs: ['10.0.0.0/8'] }), {
      ...EMPTY_SCOPES,
      cidrs: ['10.0.0.0/8'],
    });
  });
});
