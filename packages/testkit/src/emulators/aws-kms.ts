// A local AWS KMS: HTTPS on loopback with a throwaway CA, the real JSON 1.1 protocol
// (`X-Amz-Target: TrentService.<Op>`), SigV4 verified for real, AES-256-GCM ciphertext blobs
// that bind the encryption context and the key id, per-operation call counts and fault injection.
// It lets provider tests run the real @aws-sdk/client-kms with no network and no AWS account.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { verifyKmsSignature } from './aws-kms-auth.js';
import { createKeyStore } from './aws-kms-keys.js';
import {
  JSON_CONTENT_TYPE,
  KmsError,
  awsKmsOperations,
  MAX_BODY,
  TARGET_PREFIX,
  blobField,
  checkAlgorithm,
  checkFault,
  contextField,
  openBlob,
  parseBlob,
  randomAccessKeyId,
  randomSecret,
  sealBlob,
  stringField,
} from './aws-kms-wire.js';
import type { AwsKmsCredentials, AwsKmsFault, AwsKmsOperation } from './aws-kms-wire.js';
import type { EmulatorControls, JsonObject } from './http-emulator.js';
import {
  CallCounter,
  FaultQueue,
  dropOrDelay,
  emulatorControls,
  readBody,
  sendJson,
  startEmulatorServer,
} from './http-emulator.js';

export { awsKmsOperations } from './aws-kms-wire.js';
export type { AwsKmsCredentials, AwsKmsFault, AwsKmsFaultKind, AwsKmsOperation } from './aws-kms-wire.js';

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
    /**
     * Create a key (and an alias to it, when given): symmetric by default; an asymmetric `keySpec`
     * (RSA_2048, …) or a `keyUsage` other than ENCRYPT_DECRYPT makes one atrest must refuse.
     */
    createKey(options?: {
      aliasName?: string;
      description?: string;
      keySpec?: string;
      keyUsage?: string;
    }): AwsKmsKeyFacts;
    /** Enable or disable a key (by any of its names). */
    setKeyEnabled(keyId: string, enabled: boolean): void;
    /** Accept more credentials: random static ones, or temporary ones with a session token. */
    addCredentials(options?: { sessionToken?: boolean }): AwsKmsCredentials;
  };

/** Start an AWS KMS emulator with one key (and an alias to it). */
export async function startAwsKmsEmulator(options: AwsKmsEmulatorOptions = {}): Promise<AwsKmsEmulator> {
  const region = options.region ?? 'eu-north-1';
  const accountId = options.accountId ?? '111122223333';

  const credentials = new Map<string, AwsKmsCredentials>();
  const primary = options.credentials ?? { accessKeyId: randomAccessKeyId('AKIA'), secretAccessKey: randomSecret() };
  credentials.set(primary.accessKeyId, primary);
  const { arnPrefix, keys, aliases, addKey, resolveKey, usableKey, keyMetadata, createAlias } = createKeyStore(
    region,
    accountId,
  );
  const calls = new CallCounter<AwsKmsOperation>(awsKmsOperations);
  const faults = new FaultQueue<AwsKmsOperation, AwsKmsFault>({ check: checkFault });

  const operations: Record<AwsKmsOperation, (input: JsonObject) => JsonObject> = {
    Encrypt(input) {
      const key = usableKey(stringField(input, 'KeyId', true));
      const plaintext = blobField(input, 'Plaintext');
      if (plaintext.length < 1 || plaintext.length > 4096) {
        throw new KmsError(
          'ValidationException',
          400,
          "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: Member must " +
            'have length between 1 and 4096',
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
      const plaintext = openBlob(key, parsed, context);
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
          `Value '${spec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value ` +
            `set: [AES_256, AES_128]`,
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

  const sendKms = (res: ServerResponse, status: number, payload: JsonObject): void =>
    sendJson(res, status, payload, {
      'content-type': JSON_CONTENT_TYPE,
      'x-amzn-requestid': randomUUID(),
      date: new Date().toUTCString(),
    });

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
    verifyKmsSignature(req, body, credentials, region);
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
    sendKms(res, 200, operations[operation](input as JsonObject));
  }

  function answerError(err: unknown, req: IncomingMessage, res: ServerResponse): void {
    if (res.headersSent || req.socket.destroyed) return;
    if (err instanceof KmsError) sendKms(res, err.status, { __type: err.type, message: err.message });
    else
      sendKms(res, 500, { __type: 'KMSInternalException', message: err instanceof Error ? err.message : String(err) });
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
      const key = addKey(keyOptions.description ?? '', keyOptions.keySpec, keyOptions.keyUsage);
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
