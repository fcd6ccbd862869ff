import 'reflect-metadata';
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import * as x509 from '@peculiar/x509';
import { WarrenError } from '../../core/errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const DAY = 86_400_000;
/** Leaf certificates live a week and are minted again a day before they end. */
const LEAF_LIFETIME = 7 * DAY;
const RENEW_BEFORE = DAY;
const LEAF_ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

type SigningAlgorithm = RsaHashedImportParams | EcKeyImportParams;

interface Leaf {
  context: SecureContext;
  notAfter: number;
}

/**
 * Mints server certificates for intercepted hosts from the operator's CA
 * (the one their clients were told to trust), and keeps the most recently
 * used ones. One leaf key serves every host: what a client checks is the
 * CA's signature over the host name.
 */
export class LeafCertificates {
  private readonly cache = new Map<string, Promise<Leaf>>();

  private constructor(
    private readonly caCert: x509.X509Certificate,
    private readonly caKey: CryptoKey,
    private readonly signingAlgorithm: SigningAlgorithm & { hash: string },
    private readonly leafKeys: CryptoKeyPair,
    private readonly leafKeyPem: string,
    private readonly maxEntries: number,
  ) {}

  /**
   * Reads the CA. Its key must be readable by this user only (0600): whoever
   * holds it can impersonate any site to the machines that trust the CA.
   */
  static async load(certFile: string, keyFile: string, maxEntries = 512): Promise<LeafCertificates> {
    const mode = statSync(keyFile, { throwIfNoEntry: false })?.mode;
    if (mode === undefined) {
      throw new WarrenError('CONFIG_INVALID', `proxy.intercept.caKeyFile ${keyFile} does not exist`, 400);
    }
    if (mode & 0o077) {
      throw new WarrenError(
        'CA_KEY_EXPOSED',
        `proxy.intercept.caKeyFile ${keyFile} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
        400,
      );
    }
    const caCert = new x509.X509Certificate(await readFile(certFile, 'utf8'));
    const keyObject = createPrivateKey(await readFile(keyFile, 'utf8'));
    const algorithm = signingAlgorithmFor(keyObject.asymmetricKeyType, keyObject.asymmetricKeyDetails);
    const caKey = await webcrypto.subtle.importKey(
      'pkcs8',
      keyObject.export({ format: 'der', type: 'pkcs8' }),
      algorithm,
      false,
      ['sign'],
    );
    const leafKeys = (await webcrypto.subtle.generateKey(LEAF_ALG, true, [
      'sign',
      'verify',
    ])) as CryptoKeyPair;
    const der = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
    const leafKeyPem = x509.PemConverter.encode(der, 'PRIVATE KEY');
    return new LeafCertificates(caCert, caKey, algorithm, leafKeys, leafKeyPem, maxEntries);
  }

  /** A TLS context presenting a certificate for `host`, from the cache when fresh. */
  async contextFor(host: string): Promise<SecureContext> {
    const cached = this.cache.get(host);
    if (cached) {
      const leaf = await cached.catch(() => undefined);
      if (leaf && leaf.notAfter - Date.now() > RENEW_BEFORE) {
        // Most recently used last, so the oldest is the first to go.
        this.cache.delete(host);
        this.cache.set(host, cached);
        return leaf.context;
      }
      if (this.cache.get(host) === cached) this.cache.delete(host);
    }
    const minted = this.mint(host);
    this.cache.set(host, minted);
    minted.catch(() => this.cache.delete(host));
    while (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    return (await minted).context;
  }

  private async mint(host: string): Promise<Leaf> {
    const now = Date.now();
    const notAfter = Math.min(now + LEAF_LIFETIME, this.caCert.notAfter.getTime());
    const serial = randomBytes(16);
    serial[0] = serial[0]! & 0x7f;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial.toString('hex'),
      subject: `CN=${host}`,
      issuer: this.caCert.subject,
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(notAfter),
      publicKey: this.leafKeys.publicKey,
      signingKey: this.caKey,
      signingAlgorithm: this.signingAlgorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: isIP(host) ? 'ip' : 'dns', value: host }]),
        await x509.AuthorityKeyIdentifierExtension.create(this.caCert),
      ],
    });
    const context = createSecureContext({
      cert: `${cert.toString('pem')}\n${this.caCert.toString('pem')}`,
      key: this.leafKeyPem,
    });
    return { context, notAfter };
  }
}

function signingAlgorithmFor(
  type: string | undefined,
  details: { namedCurve?: string } | undefined,
): SigningAlgorithm & { hash: string } {
  if (type === 'rsa') return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  if (type === 'ec' && details?.namedCurve === 'prime256v1')
    return { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
  if (type === 'ec' && details?.namedCurve === 'secp384r1')
    return { name: 'ECDSA', namedCurve: 'P-384', hash: 'SHA-384' };
  throw new WarrenError(
    'CONFIG_INVALID',
    `proxy.intercept.caKeyFile: a ${type ?? 'unknown'} ${details?.namedCurve ?? ''} key is not supported (RSA, EC P-256 or P-384)`,
    400,
  );
}
