/*
 * The subset of the Docker Engine API (v1.41, Docker 20.10) that Warren uses:
 * request bodies Warren sends and the fields of Docker's answers it reads.
 * Field names are Docker's (PascalCase). Everything else in Docker's answers
 * is ignored.
 */

export type Labels = Record<string, string>;
/** `{label: ['k=v', 'k']}`: Docker's list filters. */
export type Filters = Record<string, string[]>;

export interface NetworkCreateBody {
  Name: string;
  Driver: 'bridge';
  CheckDuplicate: true;
  Internal: boolean;
  Attachable: false;
  EnableIPv6: false;
  Labels: Labels;
  Options: Record<string, string>;
}

export interface NetworkInfo {
  Id: string;
  Name: string;
  Driver: string;
  Internal: boolean;
  Labels: Labels | null;
  IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> | null };
  Containers?: Record<string, { Name: string; IPv4Address: string }> | null;
}

export interface VolumeCreateBody {
  Name: string;
  Driver: 'local';
  DriverOpts: Record<string, never>;
  Labels: Labels;
}

export interface VolumeInfo {
  Name: string;
  Driver: string;
  Labels: Labels | null;
  Mountpoint?: string;
  Options?: Record<string, string> | null;
}

export interface Mount {
  Type: 'volume' | 'tmpfs';
  Target: string;
  Source?: string;
  ReadOnly?: boolean;
  VolumeOptions?: { NoCopy?: boolean };
  TmpfsOptions?: { SizeBytes?: number; Mode?: number };
}

export interface HealthConfig {
  Test: string[];
  /** Nanoseconds. */
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  Retries?: number;
}

export interface HostConfig {
  NetworkMode: string;
  Binds: [];
  Mounts: Mount[];
  Tmpfs: Record<string, string>;
  CapDrop: string[];
  CapAdd: string[];
  SecurityOpt: string[];
  Privileged: false;
  ReadonlyRootfs: boolean;
  Memory: number;
  MemorySwap: number;
  NanoCpus: number;
  PidsLimit: number;
  PortBindings: Record<string, never>;
  PublishAllPorts: false;
  Devices: [];
  IpcMode: 'private';
  CgroupnsMode: 'private';
  RestartPolicy: { Name: '' | 'no' | 'always' | 'on-failure' | 'unless-stopped'; MaximumRetryCount: number };
  Init: boolean | null;
  LogConfig: { Type: 'json-file'; Config: Record<string, string> };
  AutoRemove: false;
}

export interface ContainerCreateBody {
  Image: string;
  Cmd?: string[];
  Entrypoint?: string[];
  Env: string[];
  User?: string;
  WorkingDir?: string;
  ExposedPorts: Record<string, Record<string, never>>;
  Healthcheck?: HealthConfig;
  StopSignal?: string;
  /** Seconds. */
  StopTimeout?: number;
  Labels: Labels;
  Tty: false;
  OpenStdin: false;
  HostConfig: HostConfig;
  NetworkingConfig: { EndpointsConfig: Record<string, { Aliases: string[] }> };
}

export interface ContainerSummary {
  Id: string;
  Names: string[];
  Image: string;
  State: string;
  Status: string;
  Labels: Labels | null;
}

export interface ContainerInfo {
  Id: string;
  Name: string;
  Image: string;
  State: {
    Status: string;
    Running: boolean;
    Restarting: boolean;
    ExitCode: number;
    Health?: { Status: 'starting' | 'healthy' | 'unhealthy' | 'none' };
  };
  Config: { Labels: Labels | null; Image: string };
  HostConfig: { RestartPolicy?: { Name: string } } & Record<string, unknown>;
  NetworkSettings: {
    Networks: Record<string, { IPAddress: string; NetworkID: string; Aliases?: string[] | null }>;
  };
  Mounts: Array<{ Type: string; Name?: string; Source: string; Destination: string; RW: boolean }>;
}

export interface ImageInfo {
  Id: string;
  RepoTags: string[] | null;
  Config?: { ExposedPorts?: Record<string, unknown> | null } | null;
}

export interface VersionInfo {
  Version: string;
  ApiVersion: string;
  MinAPIVersion?: string;
  Os: string;
  Arch: string;
}
