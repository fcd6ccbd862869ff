import { type Static, Type } from '@sinclair/typebox';

/** `mirror:` — the OCI registry mirror (pull API) for Docker and containerd. */
export const MirrorConfigSchema = Type.Object(
  {
    listen: Type.String({
      default: '',
      description: "host:port of the registry mirror (plain HTTP); '' = off",
    }),
    defaultRegistry: Type.String({
      default: 'docker.io',
      description:
        "registry for requests without ?ns= and without an alias (Docker's registry-mirrors: Docker Hub names; mirror-host/<repo>:<tag>)",
    }),
    maxConcurrent: Type.Integer({
      default: 64,
      minimum: 1,
      maximum: 4096,
      description: 'requests served at once; more get 429',
    }),
    requestTimeout: Type.String({
      default: '30s',
      description: 'longest wait for the upstream (manifests, HEAD) or for a blob to start',
    }),
    manifestCache: Type.Integer({
      default: 256,
      minimum: 0,
      maximum: 65536,
      description: 'manifests by digest kept in memory (each verified, at most 4 MiB; 64 MiB in all)',
    }),
  },
  { default: {}, additionalProperties: false },
);

export type MirrorConfig = Static<typeof MirrorConfigSchema>;
