import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkUpdate, verifyFetchedRelease } from './fetched.js';
import { generateMaintainerKey, rawPublicKey } from './keys.js';
import { packRelease } from './pack.js';
import { formatSignature, signRelease } from './signature.js';
import { type IndexApp, signIndex, verifyIndex } from './store-index.js';

const dir = mkdtempSync(join(tmpdir(), 'warren-fetched-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const maintainer = generateMaintainerKey();
const stranger = generateMaintainerKey();
const storeKey = generateMaintainerKey();
const b64 = (key = maintainer) => rawPublicKey(key.privateKey).toString('base64');

async function makeRelease(version: string, compose = 'services:\n  web:\n    image: example.org/web:1.0\n') {
  const folder = mkdtempSync(join(dir, 'src-'));
  writeFileSync(
    join(folder, 'app.yml'),
    [
      'id: hello',
      'name: Hello',
      `version: ${version}`,
      'maintainer: alice',
      'description: hi',
      'main_service: web',
      'internal_port: 8080',
      'url_path: /',
      'health_check_path: /',
      '',
    ].join('\n'),
  );
  writeFileSync(join(folder, 'docker-compose.yml'), compose);
  const zipPath = join(dir, `hello-${version}-${Math.random().toString(36).slice(2)}.zip`);
  const release = await packRelease(folder, zipPath);
  return { zipPath, sha256: release.sha256 };
}

function indexOf(apps: IndexApp[]) {
  const text = signIndex(
    { serial: 1, issuedAt: new Date(), expiresAt: new Date(Date.now() + 3_600_000), apps },
    storeKey.privateKey,
  );
  return verifyIndex(text, { storeKey: rawPublicKey(storeKey.privateKey) }).index;
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    return (err as { code: string }).code;
  }
  return 'accepted';
}

describe('verifyFetchedRelease', () => {
  it('accepts a release the index lists, signed by the bound key', async () => {
    const r = await makeRelease('1.0.0');
    const sig = await signRelease(r.zipPath, maintainer.privateKey, { id: 'hello', version: '1.0.0' });
    const index = indexOf([
      {
        id: 'hello',
        maintainer_key: b64(),
        official: true,
        versions: [{ version: '1.0.0', sha256: r.sha256, yanked: false }],
      },
    ]);
    const ok = await verifyFetchedRelease(index, {
      appId: 'hello',
      version: '1.0.0',
      zipPath: r.zipPath,
      sha256: r.sha256,
      signatureText: formatSignature(sig),
    });
    assert.equal(ok.release.manifest.id, 'hello');
    assert.equal(ok.app.official, true);
    assert.equal(ok.signature.pinned, true);
  });

  it('refuses another signer, other bytes, a yanked version, an update with another key or older', async () => {
    const r = await makeRelease('1.0.0');
    const other = await makeRelease('1.0.0', 'services:\n  web:\n    image: example.org/web:2.0\n');
    const good = formatSignature(
      await signRelease(r.zipPath, maintainer.privateKey, { id: 'hello', version: '1.0.0' }),
    );
    const bad = formatSignature(
      await signRelease(r.zipPath, stranger.privateKey, { id: 'hello', version: '1.0.0' }),
    );
    const entry = (yanked = false): IndexApp => ({
      id: 'hello',
      maintainer_key: b64(),
      official: false,
      versions: [{ version: '1.0.0', sha256: r.sha256, yanked }],
    });
    const fetched = { appId: 'hello', version: '1.0.0', zipPath: r.zipPath, sha256: r.sha256 };
    const index = indexOf([entry()]);
    assert.equal(
      await refusal(verifyFetchedRelease(index, { ...fetched, signatureText: bad })),
      'SIGNATURE_WRONG_KEY',
    );
    assert.equal(
      await refusal(
        verifyFetchedRelease(index, {
          ...fetched,
          zipPath: other.zipPath,
          sha256: other.sha256,
          signatureText: good,
        }),
      ),
      'RELEASE_DIGEST_MISMATCH',
    );
    assert.equal(
      await refusal(verifyFetchedRelease(indexOf([entry(true)]), { ...fetched, signatureText: good })),
      'RELEASE_YANKED',
    );
    assert.equal(
      await refusal(
        verifyFetchedRelease(
          index,
          { ...fetched, signatureText: good },
          {
            installed: { version: '0.9.0', maintainerKey: b64(stranger) },
          },
        ),
      ),
      'RELEASE_KEY_CHANGED',
    );
    assert.equal(
      await refusal(
        verifyFetchedRelease(
          index,
          { ...fetched, signatureText: good },
          {
            installed: { version: '1.1.0', maintainerKey: b64() },
          },
        ),
      ),
      'RELEASE_DOWNGRADE',
    );
  });

  it('checkUpdate allows the same key going forward, and a first install', () => {
    checkUpdate(undefined, { appId: 'hello', version: '0.1.0', maintainerKey: b64() });
    checkUpdate(
      { version: '1.0.0', maintainerKey: b64() },
      { appId: 'hello', version: '1.0.1', maintainerKey: b64() },
    );
    assert.throws(
      () =>
        checkUpdate(
          { version: '1.0.0', maintainerKey: b64() },
          { appId: 'hello', version: '1.0.0-rc.1', maintainerKey: b64() },
        ),
      { code: 'RELEASE_DOWNGRADE' },
    );
  });
});
