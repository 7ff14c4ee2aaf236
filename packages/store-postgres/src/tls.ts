// TLS with libpq's sslmode meanings, done by atrest itself rather than inherited from node-postgres
// (which treats require and verify-ca as verify-full): require encrypts without checking the server
// (unless a CA is given: then it is verify-ca, as in libpq), verify-ca checks the certificate's
// chain, verify-full also the name in it. The files are read and checked before any connection; a
// failed handshake becomes an error naming the host, the mode and the file.
import { statSync, readFileSync } from 'node:fs';
import { type ConnectionOptions, type PeerCertificate, checkServerIdentity, createSecureContext } from 'node:tls';
import { type AtrestError, errors } from '@atrest/core';
import type { PostgresSettings } from './settings.js';

/** The `ssl` option for node-postgres: false for sslmode disable. */
export function tlsOptions(settings: PostgresSettings): ConnectionOptions | false {
  if (settings.sslMode === 'disable') return false;
  const where = `PostgreSQL server ${endpoint(settings)} (sslmode ${settings.sslMode})`;
  const ca =
    settings.sslRootCert === undefined || settings.sslRootCert === 'system'
      ? undefined
      : readTlsFile(settings.sslRootCert, 'CA certificate', where);
  const client =
    settings.sslCert !== undefined && settings.sslKey !== undefined
      ? {
          cert: readTlsFile(settings.sslCert, 'client certificate', where),
          key: readClientKey(settings.sslKey, where),
        }
      : {};
  const verifyChain = settings.sslMode !== 'require' || ca !== undefined;
  const expectedName = settings.serverCertName ?? settings.host;
  const options: ConnectionOptions = {
    ...(ca === undefined ? {} : { ca }),
    ...client,
    rejectUnauthorized: verifyChain,
    // Node checks the name against what node-postgres passes (for an IP address, 'localhost'):
    // atrest decides instead, by the mode, against the host or server_cert_name.
    checkServerIdentity: (_name: string, cert: PeerCertificate) =>
      settings.sslMode === 'verify-full' ? checkServerIdentity(expectedName, cert) : undefined,
  };
  try {
    createSecureContext(options);
  } catch (cause) {
    throw errors.tls(
      `${where}: the TLS files do not load (${(cause as Error).message}): ` +
        [settings.sslRootCert, settings.sslCert, settings.sslKey].filter((f) => f !== undefined).join(', '),
      'Check that each is PEM, and that the client key belongs to the client certificate.',
      { cause, details: { host: settings.host, sslMode: settings.sslMode } },
    );
  }
  return options;
}

function readTlsFile(path: string, what: string, where: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw errors.tls(
      `${where}: the ${what} file ${path} cannot be read (${(cause as NodeJS.ErrnoException).code}).`,
      'Check the path and its permissions.',
      {
        cause,
        details: { file: path },
      },
    );
  }
}

/**
 * libpq's rule for the client key: a regular file, readable by its owner only (0600 or less) or, when
 * owned by root, also by its group (0640 or less), so that a group may share a system-wide key.
 */
function readClientKey(path: string, where: string): Buffer {
  const key = readTlsFile(path, 'client key', where);
  const stat = statSync(path);
  const loose = stat.uid === 0 ? stat.mode & 0o037 : stat.mode & 0o077;
  if (!stat.isFile() || loose !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw errors.tls(
      stat.isFile()
        ? `${where}: the client key ${path} is readable or writable by group or others (mode ${mode}).`
        : `${where}: the client key ${path} is not a regular file.`,
      `Run chmod 600 ${path} (0640 is allowed for a key owned by root), as libpq requires.`,
      { details: { file: path, mode } },
    );
  }
  return key;
}

// Node's codes for a chain that does not lead to a trusted CA.
const untrusted = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
]);

/** The TLS error a failed connection stands for, or undefined when it is not a TLS failure. */
export function tlsFailure(err: unknown, settings: PostgresSettings): AtrestError | undefined {
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  const where = `PostgreSQL server ${endpoint(settings)} (sslmode ${settings.sslMode})`;
  const ca = settings.sslRootCert === 'system' ? "the system's CAs" : `the CA file ${settings.sslRootCert}`;
  const details = { host: settings.host, sslMode: settings.sslMode };
  const fail = (problem: string, fix: string, file?: string) =>
    errors.tls(`${where}: ${problem}`, fix, { cause: err, details: { ...details, file } });
  if (typeof code === 'string' && untrusted.has(code)) {
    return fail(
      `its certificate is not signed by ${ca} (${code}).`,
      "Point [database] ca_cert_path (sslrootcert) at the CA that signed the server's certificate.",
      settings.sslRootCert,
    );
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return fail(`its certificate is not valid now (${code}), checked with ${ca}.`, "Renew the server's certificate.");
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    const name = settings.serverCertName ?? settings.host;
    return fail(
      `its certificate (signed by a CA in ${ca}) is not for ${JSON.stringify(name)}: ${message}`,
      'Connect with a host name the certificate holds, or set [database] server_cert_name to the name it holds.',
      settings.sslRootCert,
    );
  }
  if (message === 'The server does not support SSL connections') {
    return fail(
      'the server does not accept TLS.',
      'Turn on ssl in the server (postgresql.conf), or set sslmode disable for a server on this machine.',
    );
  }
  if (/certificate authentication failed/.test(message)) {
    return fail(
      `the server refused user ${JSON.stringify(settings.user)} with the client certificate ${settings.sslCert}: ` +
        'the certificate is for another user.',
      'Use a client certificate whose common name (CN) is the user, or a user map in pg_hba.conf.',
      settings.sslCert,
    );
  }
  if (
    /alert (unknown ca|bad certificate|certificate required|certificate unknown)|requires a valid client cert/i.test(
      message,
    )
  ) {
    return fail(
      settings.sslCert === undefined
        ? `the server wants a client certificate and none is set (${message}).`
        : `the server refused the client certificate ${settings.sslCert} (${message}).`,
      'Set [database] client_cert_path and client_key_path to a certificate signed by a CA the server trusts.',
      settings.sslCert,
    );
  }
  return undefined;
}

/** `host:port`, brackets around an IPv6 address. */
export function endpoint(settings: Pick<PostgresSettings, 'host' | 'port'>): string {
  return `${settings.host.includes(':') ? `[${settings.host}]` : settings.host}:${settings.port}`;
}
