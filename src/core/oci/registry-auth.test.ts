import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Agent } from 'undici';
import { RegistryAuth } from './registry-auth.js';

const account = { username: 'puller', password: 'pw-secret' };
const basic = `Basic ${Buffer.from('puller:pw-secret').toString('base64')}`;

describe('RegistryAuth, Basic challenges', () => {
  const auth = () => new RegistryAuth({ dispatcher: new Agent(), credentials: () => account });
  const url = new URL('http://registry.test:5000/v2/team/app/blobs/sha256:abc');

  it('answers every request that sent nothing, even when several were refused at once', async () => {
    const a = auth();
    // Both requests went out before either challenge was answered (a seed fetching
    // several blobs at once): neither carried the account, so neither proves it wrong.
    const [first, second] = await Promise.all([
      a.challenge(url, 'Basic realm="Registry"', undefined),
      a.challenge(url, 'Basic realm="Registry"', undefined),
    ]);
    assert.equal(first, basic);
    assert.equal(second, basic);
    assert.equal(a.header(url), basic, 'sent up front from then on');
  });

  it('gives up, naming no secret, when the request that carried the account was refused', async () => {
    const a = auth();
    await assert.rejects(a.challenge(url, 'Basic realm="Registry"', basic), (err: Error) => {
      assert.match(err.message, /refused the configured account/);
      assert.doesNotMatch(err.message, /pw-secret|cHVsbGVy/);
      return true;
    });
  });
});
