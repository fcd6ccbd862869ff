import { detach } from './graph.js';
import { Host, type HostInfo } from './host.js';
import { Peer } from './peer.js';
import { Task, type TaskOrigin } from './task.js';

/**
 * Every host, task and peer the scheduler knows, with the invariants kept in
 * one place: a peer is in its task's and its host's sets, edges go when a peer
 * goes, and a task without peers is forgotten.
 */
export class Resources {
  readonly hosts = new Map<string, Host>();
  readonly tasks = new Map<string, Task>();
  private peers = 0;

  get peerCount(): number {
    return this.peers;
  }

  /** Creates the host or refreshes what it says about itself. */
  upsertHost(info: HostInfo): Host {
    const host = this.hosts.get(info.id);
    if (host) {
      host.update(info);
      return host;
    }
    const created = new Host(info);
    this.hosts.set(info.id, created);
    return created;
  }

  createTask(id: string, origin: TaskOrigin, now: number): Task {
    const task = new Task(id, origin, now);
    this.tasks.set(id, task);
    return task;
  }

  addPeer(task: Task, host: Host, peerId: string, now: number): Peer {
    const peer = new Peer(peerId, task, host, now);
    task.addPeer(peer);
    host.peers.add(peer);
    this.peers++;
    return peer;
  }

  /** True while `peer` is the peer its task knows under its id. */
  isPresent(peer: Peer): boolean {
    return peer.task.peers.get(peer.id) === peer && this.tasks.get(peer.task.id) === peer.task;
  }

  /**
   * Removes a peer and its edges. Returns the children that lost it as a
   * parent so that the caller can schedule them again.
   */
  removePeer(peer: Peer): Peer[] {
    if (!peer.task.deletePeer(peer)) return [];
    peer.host.peers.delete(peer);
    this.peers--;
    return detach(peer);
  }

  /** Forgets a task with no peers and no pending seed; returns true if it was dropped. */
  dropTaskIfEmpty(task: Task): boolean {
    if (task.peers.size > 0 || task.seedTrigger) return false;
    if (this.tasks.get(task.id) === task) this.tasks.delete(task.id);
    return true;
  }

  /**
   * Peers silent since before `cutoff`. A finished peer has nothing to say:
   * it counts as alive while its host's AnnounceHost stream is open.
   */
  idlePeers(cutoff: number): Peer[] {
    const idle: Peer[] = [];
    for (const task of this.tasks.values()) {
      for (const peer of task.peerList()) {
        if (peer.state === 'succeeded' && peer.host.connected) continue;
        if (peer.lastActive < cutoff) idle.push(peer);
      }
    }
    return idle;
  }

  /**
   * Forgets a host that has no peers and no open AnnounceHost stream. A host
   * reported for bad pieces is kept, so that reconnecting does not clear its record.
   */
  dropHostIfUnused(host: Host): void {
    if (
      host.peers.size === 0 &&
      !host.connected &&
      host.badDigests === 0 &&
      this.hosts.get(host.id) === host
    ) {
      this.hosts.delete(host.id);
    }
  }
}
