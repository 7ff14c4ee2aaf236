// A throwaway certificate authority and a server certificate for 127.0.0.1/localhost, made at
// start: the emulators serve real, verifiable TLS, and clients trust them through `ca_file` only.
// The same CA issues client certificates on demand (mutual TLS, e.g. PostgreSQL's `cert` auth).
import { webcrypto } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** PEM material of a test CA and the server certificate it signed. */
export type TestTls = {
  /** The CA certificate (PEM): what a client puts in `ca_file`. */
  readonly caPem: string;
  /** Path of a file holding `caPem` (in a fresh temporary directory). */
  readonly caFile: string;
  /** Server certificate (PEM) for the given host names and IP addresses. */
  readonly certPem: string;
  /** Server private key (PKCS#8 PEM). */
  readonly keyPem: string;
  /** A client certificate (PEM, with its PKCS#8 key) for `commonName`, signed by this CA. */
  issueClientCertificate(commonName: string): Promise<{ readonly certPem: string; readonly keyPem: string }>;
};

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey('pkcs8', key);
  const b64 = Buffer.from(der)
    .toString('base64')
    .replace(/(.{64})/g, '$1\n');
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

/** Make a CA named `name` and a server certificate for `hosts` (default: 127.0.0.1, ::1 and localhost). */
export async function createTestTls(
  options: { name?: string; hosts?: readonly string[]; dir?: string } = {},
): Promise<TestTls> {
  const name = options.name ?? 'atrest test CA';
  const hosts = options.hosts ?? ['127.0.0.1', '::1', 'localhost'];
  const now = Date.now();
  const notBefore = new Date(now - 60_000);
  const notAfter = new Date(now + 2 * 24 * 3600_000);
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${name}`,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const leaf = async (subject: string, usage: x509.ExtendedKeyUsage, names?: x509.JsonGeneralNames) => {
    const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject,
      issuer: ca.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([usage]),
        ...(names === undefined ? [] : [new x509.SubjectAlternativeNameExtension(names)]),
        await x509.AuthorityKeyIdentifierExtension.create(ca),
      ],
    });
    return { certPem: `${cert.toString('pem')}\n`, keyPem: await pkcs8Pem(keys.privateKey) };
  };
  const server = await leaf(
    `CN=${hosts[0] ?? 'localhost'}`,
    x509.ExtendedKeyUsage.serverAuth,
    hosts.map((h) => (/^[\d.]+$|:/.test(h) ? { type: 'ip' as const, value: h } : { type: 'dns' as const, value: h })),
  );
  const caPem = `${ca.toString('pem')}\n`;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'atrest-tls-'));
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, caPem);
  return {
    caPem,
    caFile,
    ...server,
    issueClientCertificate: (commonName) => leaf(`CN=${commonName}`, x509.ExtendedKeyUsage.clientAuth),
  };
}

function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(8));
  b[0] = (b[0] ?? 0) & 0x7f;
  return Buffer.from(b).toString('hex');
}
