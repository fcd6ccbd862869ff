import type { Peer } from './peer.js';

/**
 * Upload slots assumed for a host that announces `upload_limit = 0`: proto3
 * cannot tell "unset" from zero, and a host that truly serves nothing would not
 * run an upload server. 50 is Dragonfly's default concurrent upload limit.
 */
export const DEFAULT_UPLOAD_LIMIT = 50;
/** A host cannot claim more slots than this (it would dominate every score). */
export const MAX_UPLOAD_LIMIT = 10_000;

/** What a host says about itself (mirrors the protocol's Host message). */
export interface HostInfo {
  id: string;
  hostname: string;
  ip: string;
  uploadPort: number;
  isSeed: boolean;
  idc: string;
  location: string;
  uploadLimit: number;
}

/**
 * A peer daemon (one machine or container). Its peers across all tasks share
 * its upload slots; bad pieces and failed uploads count against it everywhere.
 */
export class Host {
  readonly id: string;
  info: HostInfo;
  /** This host's peers, across every task. */
  readonly peers = new Set<Peer>();
  /** Children currently assigned to this host's peers (kept by graph.ts). */
  uploads = 0;
  /** Pieces reported as not matching the manifest, by any child. */
  badDigests = 0;
  uploadFailures = 0;
  /** An AnnounceHost stream is open. */
  connected = false;

  constructor(info: HostInfo) {
    this.id = info.id;
    this.info = normalize(info);
  }

  update(info: HostInfo): void {
    this.info = normalize(info);
  }

  get uploadLimit(): number {
    return this.info.uploadLimit;
  }

  /** Upload slots not taken by children; may be negative after the limit was lowered. */
  freeUploadSlots(): number {
    return this.uploadLimit - this.uploads;
  }
}

function normalize(info: HostInfo): HostInfo {
  const limit = info.uploadLimit === 0 ? DEFAULT_UPLOAD_LIMIT : info.uploadLimit;
  return { ...info, uploadLimit: Math.min(limit, MAX_UPLOAD_LIMIT) };
}
