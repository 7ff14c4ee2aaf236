// A local AWS KMS: HTTPS on loopback with a throwaway CA, the real JSON 1.1 protocol
// (`X-Amz-Target: TrentService.<Op>`), SigV4 verified for real, AES-256-GCM ciphertext blobs
// that bind the encryption context and the key id, per-operation call counts and fault injection.
// It lets provider tests run the real @aws-sdk/client-kms with no network and no AWS account.
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SigV4Credentials } from './aws-sigv4.js';
import {
  canonicalHeaderValue,
  computeSignature,
  parseAmzDate,
  parseAuthorization,
  signaturesMatch,
} from './aws-sigv4.js';
import type { EmulatorControls, EmulatorFault, EmulatorFaultKind } from './http-emulator.js';
import {
  CallCounter,
  FaultQueue,
  dropOrDelay,
  emulatorControls,
  readBody,
  startEmulatorServer,
} from './http-emulator.js';

/** The KMS operations the emulator serves. */
export const awsKmsOperations = [
  'Encrypt',
  'Decrypt',
  'GenerateDataKey',
  'DescribeKey',
  'CreateKey',
  'CreateAlias',
  'UpdateAlias',
  'EnableKey',
  'DisableKey',
] as const;
export type AwsKmsOperation = (typeof awsKmsOperations)[number];

/**
 * What a fault does to a request it matches: `throttling` answers 400 `ThrottlingException`,
 * `internal-failure` 500 `InternalFailure`, `service-unavailable` 503 `ServiceUnavailable`.
 */
export type AwsKmsFaultKind = EmulatorFaultKind;

/** A fault to inject; without `operations` it hits every operation. `latency` needs `ms`. */
export type AwsKmsFault = EmulatorFault<AwsKmsOperation>;

/** Credentials the emulator accepts. */
export type AwsKmsCredentials = SigV4Credentials;

/** Public facts of an emulated key. */
export type AwsKmsKeyFacts = {
  readonly keyId: string;
  readonly keyArn: string;
  /** `alias/…`, when one was created with the key. */
  readonly aliasName?: string;
  readonly aliasArn?: string;
};

/** The connection facts, named as the `awskms` provider's INI keys. */
export type AwsKmsProviderKeys = {
  readonly endpoint: string;
  readonly ca_file: string;
  readonly region: string;
  readonly access_key_id: string;
  readonly secret_access_key: string;
  readonly key_id: string;
};

export type AwsKmsEmulatorOptions = {
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number;
  /** Region of the emulated account (default `eu-north-1`); requests must be signed for it. */
  readonly region?: string;
  /** Account id in ARNs (default `111122223333`). */
  readonly accountId?: string;
  /** The first accepted credentials (default: random ones). */
  readonly credentials?: AwsKmsCredentials;
  /** Alias given to the first key (default `alias/atrest-test`). */
  readonly aliasName?: string;
  /** Names in the server certificate (default 127.0.0.1, ::1, localhost): set others to test host-name checks. */
  readonly certificateHosts?: readonly string[];
};

/** `calls`: requests received per operation (every attempt, including ones answered by a fault or an error). */
export type AwsKmsEmulator = AwsKmsProviderKeys &
  EmulatorControls<AwsKmsOperation, AwsKmsFault> & {
    readonly accountId: string;
    /** The first key, its ARN and its alias. */
    readonly key: Required<AwsKmsKeyFacts>;
    /** Exactly the provider's INI keys, e.g. to spread into a provider config. */
    readonly providerKeys: AwsKmsProviderKeys;
    /** Create a symmetric key (and an alias to it, when given). */
    createKey(options?: { aliasName?: string; description?: string }): AwsKmsKeyFacts;
    /** Enable or disable a key (by any of its names). */
    setKeyEnabled(keyId: string, enabled: boolean): void;
    /** Accept more credentials: random static ones, or temporary ones with a session token. */
    addCredentials(options?: { sessionToken?: boolean }): AwsKmsCredentials;
  };

type KeyRecord = {
  readonly keyId: string;
  readonly arn: string;
  readonly secret: Buffer;
  readonly description: string;
  readonly createdAt: Date;
  enabled: boolean;
};

type JsonObject = Record<string, unknown>;

/** An error answered the way KMS answers it: HTTP status and `{ __type, message }`. */
class KmsError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
const TARGET_PREFIX = 'TrentService.';
const MAX_BODY = 256 * 1024;
/** How far a request's X-Amz-Date may be from the emulator's clock, as AWS allows. */
const CLOCK_SKEW_MS = 5 * 60_000;
const BLOB_VERSION = 1;
const BLOB_AAD_LABEL = Buffer.from('atrest-aws-kms-emulator/v1', 'utf8');
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const badSignature = (): KmsError =>
  new KmsError(
    'InvalidSignatureException',
    400,
    'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
  );
const invalidToken = (): KmsError =>
  new KmsError('UnrecognizedClientException', 400, 'The security token included in the request is invalid.');

function randomAccessKeyId(prefix: 'AKIA' | 'ASIA'): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return prefix + Array.from(randomBytes(16), (b) => alphabet[b % 32]).join('');
}

function randomSecret(): string {
  return randomBytes(30).toString('base64').replace(/[+/]/g, 'A');
}

/** The encryption context as bytes that differ for any difference in keys or values. */
function encodeContext(context: Readonly<Record<string, string>>): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

/** Blob: version, key-id length, key id, 12-byte IV, 16-byte tag, ciphertext; all but the body authenticated. */
function sealBlob(key: KeyRecord, plaintext: Buffer, context: Readonly<Record<string, string>>): Buffer {
  const keyId = Buffer.from(key.keyId, 'ascii');
  const header = Buffer.concat([Buffer.from([BLOB_VERSION, keyId.length]), keyId]);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.secret, iv);
  cipher.setAAD(Buffer.concat([BLOB_AAD_LABEL, header, encodeContext(context)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
}

function parseBlob(blob: Buffer): { keyId: string; header: Buffer; iv: Buffer; tag: Buffer; body: Buffer } {
  const idLength = blob[1] ?? 0;
  const headerLength = 2 + idLength;
  if (blob[0] !== BLOB_VERSION || idLength === 0 || blob.length < headerLength + 12 + 16 + 1) {
    throw new KmsError('InvalidCiphertextException', 400, '');
  }
  const header = blob.subarray(0, headerLength);
  return {
    keyId: blob.subarray(2, headerLength).toString('latin1'),
    header,
    iv: blob.subarray(headerLength, headerLength + 12),
    tag: blob.subarray(headerLength + 12, headerLength + 28),
    body: blob.subarray(headerLength + 28),
  };
}

function stringField(input: JsonObject, name: string, required: true): string;
function stringField(input: JsonObject, name: string, required: false): string | undefined;
function stringField(input: JsonObject, name: string, required: boolean): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) {
    if (required)
      throw new KmsError(
        'ValidationException',
        400,
        `1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: Member must not be null`,
      );
    return undefined;
  }
  if (typeof value !== 'string') throw new KmsError('SerializationException', 400, `${name} must be a string`);
  return value;
}

function blobField(input: JsonObject, name: string): Buffer {
  const value = stringField(input, name, true);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new KmsError('SerializationException', 400, `${name} is not valid base64`);
  }
  return Buffer.from(value, 'base64');
}

function contextField(input: JsonObject): Record<string, string> {
  const value = input['EncryptionContext'];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw new KmsError('SerializationException', 400, 'EncryptionContext must be a map');
  const context: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string')
      throw new KmsError('SerializationException', 400, 'EncryptionContext values must be strings');
    context[k] = v;
  }
  return context;
}

function checkAlgorithm(input: JsonObject): void {
  const algorithm = stringField(input, 'EncryptionAlgorithm', false);
  if (algorithm !== undefined && algorithm !== 'SYMMETRIC_DEFAULT') {
    throw new KmsError(
      'InvalidKeyUsageException',
      400,
      `The encryption algorithm ${algorithm} is not compatible with the type of this key.`,
    );
  }
}

function lowerFirst(s: string): string {
  return s.charAt(0).toLowerCase() + s.slice(1);
}

function checkFault(fault: AwsKmsFault): void {
  if (fault.kind === 'latency' && !(typeof fault.ms === 'number' && fault.ms >= 0))
    throw new TypeError('a latency fault needs ms >= 0');
  if (fault.times !== undefined && !(Number.isInteger(fault.times) && fault.times > 0))
    throw new TypeError('fault times must be a positive integer');
}

/** Start an AWS KMS emulator with one key (and an alias to it). */
export async function startAwsKmsEmulator(options: AwsKmsEmulatorOptions = {}): Promise<AwsKmsEmulator> {
  const region = options.region ?? 'eu-north-1';
  const accountId = options.accountId ?? '111122223333';
  const arnPrefix = `arn:aws:kms:${region}:${accountId}:`;

  const credentials = new Map<string, AwsKmsCredentials>();
  const primary = options.credentials ?? { accessKeyId: randomAccessKeyId('AKIA'), secretAccessKey: randomSecret() };
  credentials.set(primary.accessKeyId, primary);
  const keys = new Map<string, KeyRecord>();
  const aliases = new Map<string, string>();
  const calls = new CallCounter<AwsKmsOperation>(awsKmsOperations);
  const faults = new FaultQueue<AwsKmsOperation, AwsKmsFault>({ check: checkFault });

  function addKey(description: string): KeyRecord {
    const keyId = randomUUID();
    const key: KeyRecord = {
      keyId,
      arn: `${arnPrefix}key/${keyId}`,
      secret: randomBytes(32),
      description,
      createdAt: new Date(),
      enabled: true,
    };
    keys.set(keyId, key);
    return key;
  }

  function checkAliasName(aliasName: string): void {
    if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(aliasName) || aliasName.startsWith('alias/aws/')) {
      throw new KmsError(
        'ValidationException',
        400,
        `Alias must start with the prefix "alias/" and must not begin with "alias/aws/": ${aliasName}`,
      );
    }
  }

  /** Resolve a key id, key ARN, alias name or alias ARN, as KMS does. */
  function resolveKey(ref: string, allowAlias = true): KeyRecord {
    let name = ref;
    if (ref.startsWith('arn:')) {
      if (!ref.startsWith(arnPrefix)) throw new KmsError('NotFoundException', 400, `Invalid arn ${ref}`);
      name = ref.slice(arnPrefix.length);
      if (name.startsWith('key/')) name = name.slice('key/'.length);
      else if (!name.startsWith('alias/')) throw new KmsError('NotFoundException', 400, `Invalid arn ${ref}`);
    }
    if (name.startsWith('alias/')) {
      const target = allowAlias ? aliases.get(name) : undefined;
      const key = target === undefined ? undefined : keys.get(target);
      if (!key) throw new KmsError('NotFoundException', 400, `Alias ${arnPrefix}${name} is not found.`);
      return key;
    }
    const key = UUID.test(name) ? keys.get(name) : undefined;
    if (!key) throw new KmsError('NotFoundException', 400, `Key '${arnPrefix}key/${name}' does not exist`);
    return key;
  }

  function usableKey(ref: string): KeyRecord {
    const key = resolveKey(ref);
    if (!key.enabled) throw new KmsError('DisabledException', 400, `${key.arn} is disabled.`);
    return key;
  }

  function keyMetadata(key: KeyRecord): JsonObject {
    return {
      AWSAccountId: accountId,
      KeyId: key.keyId,
      Arn: key.arn,
      CreationDate: key.createdAt.getTime() / 1000,
      Enabled: key.enabled,
      Description: key.description,
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeyState: key.enabled ? 'Enabled' : 'Disabled',
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
      MultiRegion: false,
    };
  }

  function createAlias(aliasName: string, targetKeyId: string): void {
    checkAliasName(aliasName);
    if (aliases.has(aliasName))
      throw new KmsError(
        'AlreadyExistsException',
        400,
        `An alias with the name ${arnPrefix}${aliasName} already exists`,
      );
    aliases.set(aliasName, resolveKey(targetKeyId, false).keyId);
  }

  const operations: Record<AwsKmsOperation, (input: JsonObject) => JsonObject> = {
    Encrypt(input) {
      const key = usableKey(stringField(input, 'KeyId', true));
      const plaintext = blobField(input, 'Plaintext');
      if (plaintext.length < 1 || plaintext.length > 4096) {
        throw new KmsError(
          'ValidationException',
          400,
          "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must have length between 1 and 4096",
        );
      }
      checkAlgorithm(input);
      const blob = sealBlob(key, plaintext, contextField(input));
      return { CiphertextBlob: blob.toString('base64'), KeyId: key.arn, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    Decrypt(input) {
      const parsed = parseBlob(blobField(input, 'CiphertextBlob'));
      const context = contextField(input);
      checkAlgorithm(input);
      const requested = stringField(input, 'KeyId', false);
      if (requested !== undefined && resolveKey(requested).keyId !== parsed.keyId) {
        throw new KmsError(
          'IncorrectKeyException',
          400,
          'The key ID in the request does not identify a CMK that can perform this operation.',
        );
      }
      const key = keys.get(parsed.keyId);
      if (!key) throw new KmsError('InvalidCiphertextException', 400, '');
      if (!key.enabled) throw new KmsError('DisabledException', 400, `${key.arn} is disabled.`);
      let plaintext: Buffer;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key.secret, parsed.iv);
        decipher.setAAD(Buffer.concat([BLOB_AAD_LABEL, parsed.header, encodeContext(context)]));
        decipher.setAuthTag(parsed.tag);
        plaintext = Buffer.concat([decipher.update(parsed.body), decipher.final()]);
      } catch {
        // KMS says nothing more: a tampered blob and a different context look the same.
        throw new KmsError('InvalidCiphertextException', 400, '');
      }
      return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    GenerateDataKey(input) {
      const key = usableKey(stringField(input, 'KeyId', true));
      const spec = stringField(input, 'KeySpec', false);
      const count = input['NumberOfBytes'];
      let size: number;
      if (spec !== undefined && count !== undefined)
        throw new KmsError('ValidationException', 400, 'Please specify either number of bytes or key spec.');
      if (spec === 'AES_256') size = 32;
      else if (spec === 'AES_128') size = 16;
      else if (spec !== undefined)
        throw new KmsError(
          'ValidationException',
          400,
          `Value '${spec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`,
        );
      else if (typeof count === 'number' && Number.isInteger(count) && count >= 1 && count <= 1024) size = count;
      else throw new KmsError('ValidationException', 400, 'Please specify either number of bytes or key spec.');
      const plaintext = randomBytes(size);
      const blob = sealBlob(key, plaintext, contextField(input));
      return { CiphertextBlob: blob.toString('base64'), Plaintext: plaintext.toString('base64'), KeyId: key.arn };
    },
    DescribeKey(input) {
      return { KeyMetadata: keyMetadata(resolveKey(stringField(input, 'KeyId', true))) };
    },
    CreateKey(input) {
      const usage = stringField(input, 'KeyUsage', false);
      const spec = stringField(input, 'KeySpec', false) ?? stringField(input, 'CustomerMasterKeySpec', false);
      if (
        (usage !== undefined && usage !== 'ENCRYPT_DECRYPT') ||
        (spec !== undefined && spec !== 'SYMMETRIC_DEFAULT')
      ) {
        throw new KmsError(
          'UnsupportedOperationException',
          400,
          'The emulator only creates SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys.',
        );
      }
      return { KeyMetadata: keyMetadata(addKey(stringField(input, 'Description', false) ?? '')) };
    },
    CreateAlias(input) {
      createAlias(stringField(input, 'AliasName', true), stringField(input, 'TargetKeyId', true));
      return {};
    },
    UpdateAlias(input) {
      const aliasName = stringField(input, 'AliasName', true);
      if (!aliases.has(aliasName))
        throw new KmsError('NotFoundException', 400, `Alias ${arnPrefix}${aliasName} is not found.`);
      aliases.set(aliasName, resolveKey(stringField(input, 'TargetKeyId', true), false).keyId);
      return {};
    },
    EnableKey(input) {
      resolveKey(stringField(input, 'KeyId', true), false).enabled = true;
      return {};
    },
    DisableKey(input) {
      resolveKey(stringField(input, 'KeyId', true), false).enabled = false;
      return {};
    },
  };

  function authenticate(req: IncomingMessage, body: Buffer): void {
    const header = req.headers.authorization;
    if (header === undefined)
      throw new KmsError('MissingAuthenticationTokenException', 400, 'Missing Authentication Token');
    const auth = parseAuthorization(header);
    if (!auth) {
      throw new KmsError(
        'IncompleteSignatureException',
        400,
        `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization=${header.split(' ')[0] ?? ''}`,
      );
    }
    const known = credentials.get(auth.accessKeyId);
    if (!known) throw invalidToken();
    const token = req.headers['x-amz-security-token'];
    if (token !== known.sessionToken) throw invalidToken();
    const amzDate = canonicalHeaderValue(req.headersDistinct, 'x-amz-date');
    const signedAt = amzDate === undefined ? undefined : parseAmzDate(amzDate);
    if (amzDate === undefined || signedAt === undefined) {
      throw new KmsError(
        'IncompleteSignatureException',
        400,
        "Authorization header requires existence of a valid 'X-Amz-Date' header.",
      );
    }
    const now = Date.now();
    if (Math.abs(now - signedAt.getTime()) > CLOCK_SKEW_MS) {
      throw new KmsError(
        'InvalidSignatureException',
        400,
        `Signature expired: ${amzDate} is now earlier or later than the server time by more than 5 min.`,
      );
    }
    if (auth.date !== amzDate.slice(0, 8) || auth.terminator !== 'aws4_request') {
      throw new KmsError(
        'InvalidSignatureException',
        400,
        `Credential should be scoped to a valid date and end with aws4_request: ${auth.date}`,
      );
    }
    if (auth.region !== region)
      throw new KmsError(
        'InvalidSignatureException',
        400,
        `Credential should be scoped to a valid region, not '${auth.region}'.`,
      );
    if (auth.service !== 'kms')
      throw new KmsError('InvalidSignatureException', 400, `Credential should be scoped to correct service: 'kms'.`);
    const signed = auth.signedHeaders.map((h) => h.toLowerCase());
    if (!signed.includes('host') || !signed.includes('x-amz-date')) {
      throw new KmsError(
        'InvalidSignatureException',
        400,
        "'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization.",
      );
    }
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const expected = computeSignature(
      {
        method: req.method ?? 'POST',
        path: q < 0 ? url : url.slice(0, q),
        query: q < 0 ? '' : url.slice(q + 1),
        headers: req.headersDistinct,
        body,
      },
      signed,
      known.secretAccessKey,
      amzDate,
      auth.region,
      auth.service,
    );
    if (!signaturesMatch(expected, auth.signature)) throw badSignature();
  }

  function send(res: ServerResponse, status: number, payload: JsonObject): void {
    const body = Buffer.from(JSON.stringify(payload), 'utf8');
    res.writeHead(status, {
      'content-type': JSON_CONTENT_TYPE,
      'content-length': body.length,
      'x-amzn-requestid': randomUUID(),
      date: new Date().toUTCString(),
    });
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = req.headers['x-amz-target'];
    const opName =
      typeof target === 'string' && target.startsWith(TARGET_PREFIX) ? target.slice(TARGET_PREFIX.length) : undefined;
    const operation = awsKmsOperations.find((op) => op === opName);
    if (operation !== undefined) {
      calls.add(operation);
      const fault = faults.take(operation);
      if (await dropOrDelay(fault, req, server.closing)) return;
      if (fault?.kind === 'throttling') {
        throw new KmsError('ThrottlingException', 400, 'Rate exceeded');
      } else if (fault?.kind === 'internal-failure') {
        throw new KmsError(
          'InternalFailure',
          500,
          'The request processing has failed because of an unknown error, exception or failure.',
        );
      } else if (fault?.kind === 'service-unavailable') {
        throw new KmsError('ServiceUnavailable', 503, 'Service is unavailable');
      }
    }
    if (req.method !== 'POST' || (req.url ?? '/').split('?')[0] !== '/') {
      throw new KmsError('UnknownOperationException', 400, 'Only POST / is served');
    }
    const body = await readBody(
      req,
      MAX_BODY,
      () => new KmsError('ValidationException', 400, 'Request body is too large'),
    );
    authenticate(req, body);
    if (operation === undefined)
      throw new KmsError('UnknownOperationException', 400, `Unknown operation ${String(target)}`);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]?.trim();
    if (contentType !== JSON_CONTENT_TYPE)
      throw new KmsError('SerializationException', 400, `Content-Type must be ${JSON_CONTENT_TYPE}`);
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      throw new KmsError('SerializationException', 400, 'Request body is not valid JSON');
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new KmsError('SerializationException', 400, 'Request body must be a JSON object');
    send(res, 200, operations[operation](input as JsonObject));
  }

  function answerError(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    if (res.headersSent || req.socket.destroyed) return;
    if (err instanceof KmsError) send(res, err.status, { __type: err.type, message: err.message });
    else send(res, 500, { __type: 'KMSInternalException', message: err instanceof Error ? err.message : String(err) });
  }

  const server = await startEmulatorServer({
    caName: 'atrest AWS KMS emulator CA',
    dirPrefix: 'atrest-aws-kms-',
    port: options.port,
    certificateHosts: options.certificateHosts,
    handle,
    answerError,
  });
  const first = addKey('atrest test key');
  const aliasName = options.aliasName ?? 'alias/atrest-test';
  createAlias(aliasName, first.keyId);
  const providerKeys: AwsKmsProviderKeys = {
    endpoint: server.origin,
    ca_file: server.caFile,
    region,
    access_key_id: primary.accessKeyId,
    secret_access_key: primary.secretAccessKey,
    key_id: first.keyId,
  };

  const specific: Omit<AwsKmsEmulator, keyof EmulatorControls<AwsKmsOperation, AwsKmsFault>> = {
    ...providerKeys,
    providerKeys,
    accountId,
    key: { keyId: first.keyId, keyArn: first.arn, aliasName, aliasArn: `${arnPrefix}${aliasName}` },
    createKey(keyOptions = {}) {
      const key = addKey(keyOptions.description ?? '');
      if (keyOptions.aliasName === undefined) return { keyId: key.keyId, keyArn: key.arn };
      createAlias(keyOptions.aliasName, key.keyId);
      return {
        keyId: key.keyId,
        keyArn: key.arn,
        aliasName: keyOptions.aliasName,
        aliasArn: `${arnPrefix}${keyOptions.aliasName}`,
      };
    },
    setKeyEnabled(keyId, enabled) {
      resolveKey(keyId).enabled = enabled;
    },
    addCredentials(credentialOptions = {}) {
      const added: AwsKmsCredentials = credentialOptions.sessionToken
        ? {
            accessKeyId: randomAccessKeyId('ASIA'),
            secretAccessKey: randomSecret(),
            sessionToken: randomBytes(48).toString('base64'),
          }
        : { accessKeyId: randomAccessKeyId('AKIA'), secretAccessKey: randomSecret() };
      credentials.set(added.accessKeyId, added);
      return added;
    },
  };
  // Assigned onto the controls, whose `calls` getter must stay a getter.
  return Object.assign(emulatorControls(server, calls, faults), specific);
}
