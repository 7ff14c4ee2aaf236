// The provider kit, part one: what a provider that talks to a key service needs besides retries
// (see retry.ts), so that every provider, ours or a third party's, names a bad configuration key,
// reads a CA bundle and tells refused certificates from network failures the same way.
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { errors } from '../errors.js';
import type { AtrestError } from '../errors.js';

/** `[security.encryption.<type>.<name>] <key>`: how a message names a key of a provider's section. */
export function sectionKey(providerId: string, key: string): string {
  return `[security.encryption.${providerId}] ${key}`;
}

/** ATREST_CONFIG_INVALID for one key of a provider's section: what is wrong with it, and what to do. */
export function configProblem(
  providerId: string,
  key: string,
  problem: string,
  fix: string,
  cause?: unknown,
): AtrestError {
  return errors.configInvalid(`${sectionKey(providerId, key)}: ${problem}`, fix, {
    ...(cause === undefined ? {} : { cause }),
    details: { provider: providerId, key },
  });
}

/**
 * The PEM certificates of a provider's `ca_file`, each checked: ATREST_TLS naming the key and the
 * file when it cannot be read or holds none. They add to Node's roots; they never replace them.
 */
export function readCaBundle(providerId: string, caFile: string): readonly string[] {
  const refused = (problem: string, fix: string, cause?: unknown): AtrestError =>
    errors.tls(`${sectionKey(providerId, 'ca_file')}: ${caFile} ${problem}`, fix, {
      ...(cause === undefined ? {} : { cause }),
      details: { provider: providerId, key: 'ca_file', caFile },
    });
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw refused(`cannot be read (${code})`, 'Fix the path or its permissions.', err);
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const fix = "Give the PEM file of the CA certificates that sign the service's certificate.";
  if (blocks.length === 0) throw refused('holds no PEM certificate (-----BEGIN CERTIFICATE-----)', fix);
  for (const block of blocks) {
    try {
      new X509Certificate(block);
    } catch (err) {
      throw refused(`holds a certificate that does not parse (${(err as Error).message})`, fix, err);
    }
  }
  return blocks;
}

/** Node's certificate verification failures (`err.code`). */
const TLS_CODES: ReadonlySet<string> = new Set([
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Network failures worth another attempt. */
const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
]);

/** True for a Node error code that means the peer's certificate was refused. */
export function isTlsErrorCode(code: string): boolean {
  return TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

/** A refused certificate or a failed connection, found in an error or its causes. */
export type TransportFailure = {
  /** `tls`: never retried (retrying would hide it); `network`: worth another attempt. */
  readonly kind: 'tls' | 'network';
  /** Node's code, e.g. `SELF_SIGNED_CERT_IN_CHAIN`, `ECONNREFUSED`. */
  readonly code: string;
  readonly message: string;
};

/** The transport failure in `err` or its `cause` chain (SDKs wrap them), or undefined. */
export function transportFailure(err: unknown): TransportFailure | undefined {
  let network: TransportFailure | undefined;
  let current: unknown = err;
  for (let depth = 0; typeof current === 'object' && current !== null && depth < 10; depth++) {
    const { code, message, cause } = current as { code?: unknown; message?: unknown; cause?: unknown };
    const text = typeof message === 'string' ? message : '';
    if (typeof code === 'string' && isTlsErrorCode(code)) return { kind: 'tls', code, message: text };
    if (typeof code === 'string' && NETWORK_CODES.has(code)) network ??= { kind: 'network', code, message: text };
    current = cause;
  }
  return network;
}

/** What a provider knows when a TLS peer was refused. */
export type TlsRefusal = {
  readonly providerId: string;
  /** `host[:port]` that was refused. */
  readonly host: string;
  readonly failure: Pick<TransportFailure, 'code' | 'message'>;
  /** The section's `ca_file`, when set. */
  readonly caFile: string | undefined;
  readonly cause: unknown;
};

/** ATREST_TLS for a refused certificate: which host, what was trusted, and what to do about the CA. */
export function tlsRefused(refusal: TlsRefusal): AtrestError {
  const { providerId, host, failure, caFile } = refusal;
  const name = host.replace(/:\d+$/, '');
  const fix =
    caFile === undefined
      ? `There is no ca_file set: if ${host} uses a private CA or a TLS-inspecting proxy, set ca_file to that ` +
        `CA's PEM file; otherwise check that ${host} is the right host. Verification cannot be turned off.`
      : `The CA file ${caFile} (added to Node's trusted roots) does not verify ${host}'s certificate: check that it ` +
        `holds the CA that signed it and that the certificate names ${name}.`;
  return errors.tls(
    `Provider ${providerId}: TLS verification of ${host} failed (${failure.code}: ${failure.message}).`,
    fix,
    {
      cause: refusal.cause,
      details: { provider: providerId, host, tlsError: failure.code, ...(caFile === undefined ? {} : { caFile }) },
    },
  );
}
