import { api, seg } from '../api.js';

/** Asks for a one-time handoff to the app and goes there (the app's subdomain sets its own cookie). */
export async function openApp(appId: string): Promise<void> {
  const { url } = await api<{ url: string }>('POST', `/api/v1/apps/${seg(appId)}/handoff`);
  const target = new URL(url, window.location.href);
  if (target.protocol !== 'https:' && target.protocol !== 'http:') {
    throw new Error(`The cloud answered with an address that is not a web page (${target.protocol}).`);
  }
  window.location.href = target.href;
}
