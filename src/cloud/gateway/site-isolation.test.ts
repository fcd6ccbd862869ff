import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crossOriginRefusal, type SiteFacts } from './site-isolation.js';

const APP = 'https://notes.cloud.test';
const facts = (over: Partial<SiteFacts>): SiteFacts => ({
  method: 'GET',
  fetchSite: undefined,
  fetchMode: undefined,
  origin: undefined,
  ...over,
});

test('the app itself, a typed address and a link are let through', () => {
  assert.equal(
    crossOriginRefusal(facts({ method: 'POST', fetchSite: 'same-origin', fetchMode: 'cors' }), APP),
    undefined,
  );
  assert.equal(crossOriginRefusal(facts({ fetchSite: 'none', fetchMode: 'navigate' }), APP), undefined);
  // The console's handoff and any link from elsewhere: a top-level GET.
  assert.equal(crossOriginRefusal(facts({ fetchSite: 'same-site', fetchMode: 'navigate' }), APP), undefined);
  assert.equal(crossOriginRefusal(facts({ fetchSite: 'cross-site', fetchMode: 'navigate' }), APP), undefined);
});

test('another app (same site) or another site cannot post, fetch, embed or open a WebSocket', () => {
  for (const [site, mode, method] of [
    ['same-site', 'navigate', 'POST'], // a form in a sibling app
    ['same-site', 'cors', 'GET'], // fetch(…, {credentials: 'include'}) from a sibling app
    ['same-site', 'no-cors', 'GET'], // <img>/<script> from a sibling app
    ['same-site', 'websocket', 'GET'],
    ['cross-site', 'cors', 'DELETE'],
  ] as const) {
    assert.ok(
      crossOriginRefusal(facts({ method, fetchSite: site, fetchMode: mode }), APP),
      `${site} ${mode} ${method}`,
    );
  }
});

test('without Fetch Metadata, a state-changing request from another origin is refused by its Origin', () => {
  assert.ok(crossOriginRefusal(facts({ method: 'POST', origin: 'https://evil.cloud.test' }), APP));
  assert.ok(crossOriginRefusal(facts({ method: 'PUT', origin: 'null' }), APP));
  assert.equal(crossOriginRefusal(facts({ method: 'POST', origin: APP }), APP), undefined);
  assert.equal(
    crossOriginRefusal(facts({ method: 'GET', origin: 'https://evil.cloud.test' }), APP),
    undefined,
  );
  // Not a browser at all (curl, an API client): nothing to go by, nothing refused here.
  assert.equal(crossOriginRefusal(facts({ method: 'POST' }), APP), undefined);
});
