import { api } from '../api.js';
import { useLoad } from '../hooks.js';
import type { Settings } from '../types.js';

/** Says so when the cloud has no Docker Engine (apps cannot be installed or run). */
export function DockerNotice() {
  const settings = useLoad((signal) => api<Settings>('GET', '/api/v1/settings', { signal }));
  const docker = settings.data?.docker;
  if (!docker || docker.available) return null;
  return (
    <div className="banner banner-warn" role="alert">
      <strong>Apps need a Docker Engine, and none is reachable.</strong> {docker.message}
    </div>
  );
}
