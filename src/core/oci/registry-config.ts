import { type Static, Type } from '@sinclair/typebox';

/**
 * `registries:` — the OCI registries a component may fetch from (the peer: as
 * the mirror's upstreams and the origin of blob tasks; the manager: to resolve
 * images for preheat), with their accounts.
 */
export const RegistriesConfigSchema = Type.Array(
  Type.Object(
    {
      host: Type.String({
        minLength: 1,
        maxLength: 255,
        description:
          "the registry's name in image references and in containerd's ?ns= (e.g. docker.io, registry.example.com:5000)",
      }),
      url: Type.String({
        default: '',
        maxLength: 1024,
        description:
          "its API base URL; '' = https://<host> (https://registry-1.docker.io for docker.io); http:// for a plain-HTTP registry",
      }),
      alias: Type.String({
        default: '',
        maxLength: 64,
        description: "a name for mirror-host/<alias>/<repo>:<tag> pulls; '' = none",
      }),
      username: Type.String({ default: '', maxLength: 256, description: "account name; '' = anonymous" }),
      passwordFile: Type.String({
        default: '',
        maxLength: 4096,
        description: 'file holding the password or token (first line); never put it in the config itself',
      }),
    },
    { additionalProperties: false },
  ),
  { default: [], maxItems: 64 },
);

export type RegistriesConfig = Static<typeof RegistriesConfigSchema>;
