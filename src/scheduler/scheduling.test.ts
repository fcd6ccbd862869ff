import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TrustState } from '../core/trust.js';
import { addEdge } from './resource/graph.js';
import type { HostInfo } from './resource/host.js';
import type { Peer, PeerState } from './resource/peer.js';
import { Resources } from './resource/resources.js';
import type { Task } from './resource/task.js';
import { type SchedulingOptions, selectParents } from './scheduling.js';

const options: SchedulingOptions = {
  candidateParentLimit: 4,
  filterParentLimit: 15,
  badDigestHostLimit: 3,
  random: () => 0,
};

/** A task with a 100-piece manifest and a helper to add peers on their own hosts. */
function world() {
  const resources = new Resources();
  const task = resources.createTask('t'.repeat(64), origin(), 0);
  task.info = { contentLength: 400 * 1024 * 1024, pieceLength: 4 * 1024 * 1024, pieceCount: 100 };
  const add = (id: string, state: PeerState, host: Partial<HostInfo> = {}) => {
    const info = { ...hostInfo(host.id ?? `host-${id}`), ...host };
    const peer = resources.addPeer(task, resources.upsertHost(info), id, 0);
    peer.state = state;
    if (state === 'source') task.markSource(peer);
    return peer;
  };
  return { resources, task, add };
}

const ids = (peers: Peer[]) => peers.map((p) => p.id).sort();

describe('selectParents filters candidates', () => {
  it('never returns the child itself', () => {
    const { add } = world();
    add('seed', 'source', { isSeed: true });
    const child = add('child', 'succeeded');
    child.state = 'running';
    assert.deepEqual(ids(selectParents(child, options)), ['seed']);
  });

  it('skips peers of the same host', () => {
    const { add } = world();
    add('same-host', 'succeeded', { id: 'h1' });
    add('other-host', 'succeeded', { id: 'h2' });
    const child = add('child', 'running', { id: 'h1' });
    assert.deepEqual(ids(selectParents(child, options)), ['other-host']);
  });

  it('skips blocklisted parents and hosts with too many bad digests', () => {
    const { add, task } = world();
    add('blocked', 'succeeded');
    add('bad-host', 'succeeded').host.badDigests = 3;
    add('tolerated', 'succeeded').host.badDigests = 2;
    task.blocklist.add('blocked');
    const child = add('child', 'running');
    assert.deepEqual(ids(selectParents(child, options)), ['tolerated']);
  });

  it('skips failed parents and parents whose costs say they stall', () => {
    const { add } = world();
    add('failed', 'failed');
    const slow = add('slow', 'succeeded');
    for (const cost of [10, 10, 10, 1_000]) slow.recordCost(cost);
    const fine = add('fine', 'succeeded');
    for (const cost of [10, 12, 11]) fine.recordCost(cost);
    const child = add('child', 'running');
    assert.deepEqual(ids(selectParents(child, options)), ['fine']);
  });

  it('skips hosts without a free upload slot', () => {
    const { add } = world();
    const full = add('full', 'succeeded', { uploadLimit: 1 });
    const other = add('other-child', 'running');
    addEdge(other, full);
    add('free', 'succeeded', { uploadLimit: 1 });
    const child = add('child', 'running');
    // other-child is a candidate too: it downloads from `full`, so it can pass pieces on.
    assert.deepEqual(ids(selectParents(child, options)), ['free', 'other-child']);
  });

  it('skips peers that have nothing to serve yet', () => {
    const { add } = world();
    add('waiting', 'waiting');
    add('direct', 'direct');
    add('empty-running', 'running');
    add('holding', 'running').held.add(3);
    const fed = add('fed', 'running');
    addEdge(fed, add('feeder', 'succeeded'));
    const child = add('child', 'running');
    assert.deepEqual(ids(selectParents(child, options)), ['fed', 'feeder', 'holding']);
  });

  it('skips descendants of the child (no cycles)', () => {
    const { add } = world();
    const child = add('child', 'running');
    child.held.add(0);
    const grandchild = add('grandchild', 'running');
    const kid = add('kid', 'running');
    addEdge(kid, child);
    addEdge(grandchild, kid);
    add('source', 'source');
    assert.deepEqual(ids(selectParents(child, options)), ['source']);
  });

  it('skips hosts blocked through the manager, by host id or by IP', () => {
    const { add } = world();
    add('seed', 'source', { id: 'blocked-seed', isSeed: true });
    add('by-ip', 'succeeded', { id: 'h-by-ip', ip: '10.0.0.66' });
    add('fine', 'succeeded', { id: 'h-fine', ip: '10.0.0.7' });
    const child = add('child', 'running');
    const trust = new TrustState();
    trust.update([], ['blocked-seed', '10.0.0.66']);
    const isBlockedHost = (h: HostInfo) => trust.isBlockedHost(h.id) || trust.isBlockedHost(h.ip);
    assert.deepEqual(ids(selectParents(child, { ...options, isBlockedHost })), ['fine']);
    // Unblocked, both are candidates again (the seed ranks first).
    trust.update([], []);
    assert.deepEqual(ids(selectParents(child, { ...options, isBlockedHost })), ['by-ip', 'fine', 'seed']);
  });

  it('skips peers the child asked to exclude', () => {
    const { add } = world();
    add('a', 'succeeded');
    add('b', 'succeeded');
    const child = add('child', 'running');
    assert.deepEqual(ids(selectParents(child, { ...options, exclude: new Set(['a']) })), ['b']);
  });
});

describe('selectParents ranks and bounds', () => {
  it('returns at most candidateParentLimit, best first', () => {
    const { add } = world();
    for (let i = 0; i < 10; i++) add(`p${i}`, 'succeeded');
    const seed = add('seed', 'succeeded', { isSeed: true });
    const child = add('child', 'running');
    const parents = selectParents(child, options);
    assert.equal(parents.length, 4);
    assert.equal(parents[0], seed);
  });

  it('scores only filterParentLimit eligible candidates, sources always among them', () => {
    const { add } = world();
    for (let i = 0; i < 30; i++) add(`p${i}`, 'running').held.add(1);
    const source = add('source', 'source', { isSeed: true });
    const child = add('child', 'running');
    const parents = selectParents(child, { ...options, filterParentLimit: 5, candidateParentLimit: 10 });
    assert.equal(parents.length, 5);
    assert.ok(parents.includes(source));
  });

  it('returns nothing when no candidate passes', () => {
    const { add } = world();
    const child = add('child', 'running');
    add('waiting', 'waiting');
    assert.deepEqual(selectParents(child, options), []);
  });
});

function hostInfo(id: string): HostInfo {
  return {
    id,
    hostname: id,
    ip: '127.0.0.1',
    uploadPort: 4100,
    isSeed: false,
    idc: '',
    location: '',
    uploadLimit: 10,
  };
}

function origin(): Task['origin'] {
  return { url: 'https://example.com/f', headers: {}, tag: '', application: '', filterQuery: [] };
}
