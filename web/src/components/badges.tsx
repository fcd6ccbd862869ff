import { Badge } from './ui.js';

export const THIRD_PARTY_WARNING =
  'Third-party app: the store does not review it. Its maintainer signed it, but nobody checked what it does. Install it only if you trust its maintainer.';

const STATE_LABELS: Record<string, string> = {
  fetching: 'Downloading',
  loading: 'Loading images',
  creating: 'Creating containers',
  running: 'Running',
  stopped: 'Stopped',
  failed: 'Failed',
  removing: 'Removing',
};

export function StateBadge({ state }: { state: string }) {
  const tone =
    state === 'running' ? 'ok' : state === 'failed' ? 'bad' : state === 'stopped' ? 'muted' : 'info';
  return <Badge tone={tone}>{STATE_LABELS[state] ?? state}</Badge>;
}

/** Official apps are reviewed by the store; third-party ones are not. */
export function OriginBadge({ official }: { official: boolean }) {
  return official ? <Badge tone="ok">Official</Badge> : <Badge tone="warn">Third-party</Badge>;
}
