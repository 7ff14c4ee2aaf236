// A local Google Cloud KMS speaking the REST (HTTP/JSON) API that @google-cloud/kms uses in its
// `fallback` mode, and the OAuth 2.0 token endpoint a service account key file's `token_uri` names
// (google-oauth.ts), on one HTTPS server on loopback with a throwaway CA. `:encrypt` and `:decrypt`
// on crypto key names (or a version name for encrypt), key versions with a primary, additional
// authenticated data enforced, the CRC32C integrity fields checked and returned, IAM grants per key,
// errors as google.rpc.Status JSON. Call counts, faults and tampered responses let provider tests
// run Google's own libraries with no network and no Google Cloud project.
import { writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { KmsError, KmsKeyRing } from './google-kms-keys.js';
import type { Json } from './google-kms-keys.js';
import { GoogleServiceAccounts, OAuthError } from './google-oauth.js';
import type { ServiceAccountCredentials } from './google-oauth.js';
import type { EmulatorControls, EmulatorFault, EmulatorFaultKind } from './http-emulator.js';
import {
  CallCounter,
  FaultQueue,
  dropOrDelay,
  emulatorControls,
  readBody,
  sendJson,
  startEmulatorServer,
} from './http-emulator.js';

/** The requests the emulator tells apart (and counts). */
export const googleKmsOperations = ['token', 'encrypt', 'decrypt'] as const;
export type GoogleKmsOperation = (typeof googleKmsOperations)[number];

/**
 * What a fault does: `throttling` answers 429 RESOURCE_EXHAUSTED, `internal-failure` 500 INTERNAL,
 * `service-unavailable` 503 UNAVAILABLE (the token endpoint answers in OAuth 2.0's words).
 */
export type GoogleKmsFaultKind = EmulatorFaultKind;

/** A fault to inject; without `operations` it hits `encrypt` and `decrypt` (the token endpoint only when listed). */
export type GoogleKmsFault = EmulatorFault<GoogleKmsOperation>;

/** The connection facts, named as the `googlekms` provider's INI keys. */
export type GoogleKmsProviderKeys = {
  readonly key_id: string;
  readonly credentials_file: string;
  readonly endpoint: string;
  readonly ca_file: string;
};

export type GoogleKmsEmulatorOptions = {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  /** Project id (default `atrest-test`). */
  readonly projectId?: string;
  /** Location (default `global`). */
  readonly location?: string;
  /** Key ring id (default `atrest`). */
  readonly keyRing?: string;
  /** Id of the first crypto key (default `atrest-kek`). */
  readonly cryptoKey?: string;
  /** Lifetime of issued access tokens in seconds (default 3599, as Google's). */
  readonly tokenLifetimeSeconds?: number;
  /** Names in the server certificate (default 127.0.0.1, ::1, localhost). */
  readonly certificateHosts?: readonly string[];
};

/** How `tamperResponses` spoils an answer. */
export type GoogleKmsTamper =
  /** A byte of the ciphertext or plaintext flipped, its CRC32C left as it was (damage on the way). */
  | 'data'
  /** The `verified…Crc32c` fields false: the service says it did not check the request's checksums. */
  | 'unverified';

export type GoogleKmsEmulator = GoogleKmsProviderKeys &
  EmulatorControls<GoogleKmsOperation, GoogleKmsFault> & {
    /** `https://127.0.0.1:<port>`: the KMS endpoint, and the token endpoint at `/token`. */
    readonly origin: string;
    readonly providerKeys: GoogleKmsProviderKeys;
    /** The service account of `credentials_file`, granted the first key. */
    readonly serviceAccount: string;
    /** `projects/<p>/locations/<l>/keyRings/<r>`. */
    readonly keyRingName: string;
    /** A new crypto key (version 1 primary) in the key ring; returns its resource name. */
    createCryptoKey(id: string): string;
    /** A new version that becomes the primary (default: the first key); returns its resource name. */
    rotateKey(keyName?: string): string;
    /** Resource names of a key's versions, oldest first. */
    keyVersions(keyName?: string): readonly string[];
    setVersionEnabled(versionName: string, enabled: boolean): void;
    /** Let a service account encrypt and decrypt with a key (or take it away). */
    grant(email: string, keyName?: string): void;
    revokeGrant(email: string, keyName?: string): void;
    /** A new key for a service account (created on first use), written as a credentials file. */
    createServiceAccountKey(email?: string): { readonly file: string; readonly credentials: ServiceAccountCredentials };
    deleteServiceAccountKey(email: string, keyId: string): void;
    /** Forget issued access tokens. */
    revokeTokens(): void;
    /** Spoil the next `times` (default 1) encrypt or decrypt answers. */
    tamperResponses(how: GoogleKmsTamper, times?: number): void;
  };

const MAX_BODY = 256 * 1024;

/** Start a Cloud KMS emulator with one key ring, one crypto key and a service account allowed on it. */
export async function startGoogleKmsEmulator(options: GoogleKmsEmulatorOptions = {}): Promise<GoogleKmsEmulator> {
  const projectId = options.projectId ?? 'atrest-test';
  const location = options.location ?? 'global';
  const keyRingName = `projects/${projectId}/locations/${location}/keyRings/${options.keyRing ?? 'atrest'}`;
  const ring = new KmsKeyRing(keyRingName);
  const grants = new Map<string, Set<string>>();
  const calls = new CallCounter<GoogleKmsOperation>(googleKmsOperations);
  const faults = new FaultQueue<GoogleKmsOperation, GoogleKmsFault>({ inDefaultScope: (op) => op !== 'token' });
  const tampering: { how: GoogleKmsTamper; remaining: number }[] = [];

  function authorize(email: string | undefined, keyName: string, permission: string): void {
    if (email === undefined) {
      throw new KmsError(
        401,
        'UNAUTHENTICATED',
        'Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other ' +
          'valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.',
      );
    }
    if (!grants.get(keyName)?.has(email)) {
      throw new KmsError(
        403,
        'PERMISSION_DENIED',
        `Permission '${permission}' denied on resource '${keyName}' (or it may not exist).`,
      );
    }
  }
  /** Apply the next queued tampering to an answer. */
  function tamper(answer: Json): Json {
    const next = tampering[0];
    if (!next) return answer;
    next.remaining -= 1;
    if (next.remaining <= 0) tampering.shift();
    if (next.how === 'unverified') {
      return { ...answer, verifiedPlaintextCrc32c: false, verifiedAdditionalAuthenticatedDataCrc32c: false };
    }
    const field = 'ciphertext' in answer ? 'ciphertext' : 'plaintext';
    const bytes = Buffer.from(String(answer[field]), 'base64');
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
    return { ...answer, [field]: bytes.toString('base64') };
  }

  const send = (res: ServerResponse, status: number, body: Json, headers: Record<string, string> = {}): void =>
    sendJson(res, status, body, { 'content-type': 'application/json; charset=UTF-8', ...headers });

  function faultAnswer(res: ServerResponse, fault: GoogleKmsFault, oauth: boolean): void {
    const [code, status, error, message] =
      fault.kind === 'throttling'
        ? [
            429,
            'RESOURCE_EXHAUSTED',
            'rate_limit_exceeded',
            "Quota exceeded for quota metric 'Cryptographic requests'.",
          ]
        : fault.kind === 'internal-failure'
          ? [500, 'INTERNAL', 'internal_failure', 'Internal error encountered.']
          : [503, 'UNAVAILABLE', 'temporarily_unavailable', 'The service is currently unavailable.'];
    if (oauth) send(res, code, { error, error_description: message });
    else send(res, code, new KmsError(code, status, message).body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', server.origin);
    const raw = await readBody(req, MAX_BODY, () => new KmsError(413, 'INVALID_ARGUMENT', 'Request too large.'));
    if (req.method === 'POST' && url.pathname === '/token') {
      calls.add('token');
      const fault = faults.take('token');
      if (await dropOrDelay(fault, req, server.closing)) return;
      if (fault && fault.kind !== 'latency') return faultAnswer(res, fault, true);
      try {
        return send(res, 200, serviceAccounts.issueToken(new URLSearchParams(raw.toString('utf8'))), {
          'cache-control': 'no-cache, no-store, max-age=0, must-revalidate',
        });
      } catch (err) {
        if (!(err instanceof OAuthError)) throw err;
        return send(res, err.status, { error: err.error, error_description: err.description });
      }
    }
    const match = /^\/v1\/(projects\/.+):(encrypt|decrypt)$/.exec(decodeURIComponent(url.pathname));
    if (req.method !== 'POST' || !match) {
      return send(res, 404, new KmsError(404, 'NOT_FOUND', `No route for ${req.method ?? ''} ${url.pathname}`).body);
    }
    const operation = match[2] as 'encrypt' | 'decrypt';
    const name = match[1] ?? '';
    calls.add(operation);
    const fault = faults.take(operation);
    if (await dropOrDelay(fault, req, server.closing)) return;
    if (fault && fault.kind !== 'latency') return faultAnswer(res, fault, false);
    try {
      const email = serviceAccounts.bearer(req.headers.authorization);
      const keyName = name.replace(/\/cryptoKeyVersions\/\d+$/, '');
      authorize(email, keyName, `cloudkms.cryptoKeyVersions.useTo${operation === 'encrypt' ? 'Encrypt' : 'Decrypt'}`);
      let body: Json;
      try {
        body = raw.length === 0 ? {} : (JSON.parse(raw.toString('utf8')) as Json);
      } catch {
        throw new KmsError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.');
      }
      const enumsAsInt = (url.searchParams.get('$alt') ?? '').includes('enum-encoding=int');
      const answer =
        operation === 'encrypt' ? ring.encrypt(name, body, enumsAsInt) : ring.decrypt(name, body, enumsAsInt);
      send(res, 200, tamper(answer));
    } catch (err) {
      if (!(err instanceof KmsError)) throw err;
      const challenge = err.code === 401 ? { 'www-authenticate': 'Bearer realm="https://accounts.google.com/"' } : {};
      send(res, err.code, err.body, challenge);
    }
  }

  const server = await startEmulatorServer({
    caName: 'atrest Google Cloud KMS emulator CA',
    dirPrefix: 'atrest-google-kms-',
    port: options.port,
    certificateHosts: options.certificateHosts,
    handle,
    answerError(err, _req, res) {
      const known = err instanceof KmsError ? err : new KmsError(500, 'INTERNAL', String(err));
      send(res, known.code, known.body);
    },
  });
  const serviceAccounts = new GoogleServiceAccounts(
    projectId,
    `${server.origin}/token`,
    options.tokenLifetimeSeconds ?? 3599,
  );
  const dir = dirname(server.caFile);

  function createServiceAccountKey(email = serviceAccount) {
    const credentials = serviceAccounts.createKey(email);
    const file = join(dir, `credentials-${credentials.private_key_id.slice(0, 8)}.json`);
    writeFileSync(file, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
    return { file, credentials };
  }

  const serviceAccount = `atrest@${projectId}.iam.gserviceaccount.com`;
  const firstKey = ring.create(options.cryptoKey ?? 'atrest-kek');
  grants.set(firstKey, new Set([serviceAccount]));
  const providerKeys: GoogleKmsProviderKeys = {
    key_id: firstKey,
    credentials_file: createServiceAccountKey().file,
    endpoint: server.origin,
    ca_file: server.caFile,
  };
  const specific: Omit<GoogleKmsEmulator, keyof EmulatorControls<GoogleKmsOperation, GoogleKmsFault>> = {
    ...providerKeys,
    origin: server.origin,
    providerKeys,
    serviceAccount,
    keyRingName,
    createCryptoKey: (id) => ring.create(id),
    rotateKey: (keyName = firstKey) => ring.rotate(keyName),
    keyVersions: (keyName = firstKey) => ring.versions(keyName),
    setVersionEnabled: (versionName, enabled) => ring.setEnabled(versionName, enabled),
    grant(email, keyName = firstKey) {
      const set = grants.get(keyName) ?? new Set<string>();
      grants.set(keyName, set.add(email));
    },
    revokeGrant: (email, keyName = firstKey) => void grants.get(keyName)?.delete(email),
    createServiceAccountKey,
    deleteServiceAccountKey: (email, keyId) => serviceAccounts.deleteKey(email, keyId),
    revokeTokens: () => serviceAccounts.revokeTokens(),
    tamperResponses: (how, times = 1) => void tampering.push({ how, remaining: times }),
  };
  // Assigned onto the controls, whose `calls` getter must stay a getter.
  return Object.assign(emulatorControls(server, calls, faults), specific);
}
