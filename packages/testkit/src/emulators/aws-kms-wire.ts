// The AWS KMS emulator's wire format: KMS's errors (`{ __type, message }`), the JSON 1.1 request
// fields, and the emulator's own ciphertext blobs (AES-256-GCM binding the key id and the
// encryption context). The operations and the server are in aws-kms.ts.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { SigV4Credentials } from './aws-sigv4.js';
import type { EmulatorFault, EmulatorFaultKind, JsonObject } from './http-emulator.js';

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

export type KeyRecord = {
  readonly keyId: string;
  readonly arn: string;
  readonly secret: Buffer;
  readonly description: string;
  readonly createdAt: Date;
  enabled: boolean;
  /** SYMMETRIC_DEFAULT, or an asymmetric spec (RSA_2048, …) that atrest must refuse. */
  readonly keySpec: string;
  /** ENCRYPT_DECRYPT, or SIGN_VERIFY / GENERATE_VERIFY_MAC for keys atrest cannot wrap with. */
  readonly keyUsage: string;
};

/** An error answered the way KMS answers it: HTTP status and `{ __type, message }`. */
export class KmsError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const JSON_CONTENT_TYPE = 'application/x-amz-json-1.1';
export const TARGET_PREFIX = 'TrentService.';
export const MAX_BODY = 256 * 1024;
const BLOB_VERSION = 1;
const BLOB_AAD_LABEL = Buffer.from('atrest-aws-kms-emulator/v1', 'utf8');
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const badSignature = (): KmsError =>
  new KmsError(
    'InvalidSignatureException',
    400,
    'The request signature we calculated does not match the signature you provided. Check your AWS ' +
      'Secret Access Key and signing method. Consult the service documentation for details.',
  );
export const invalidToken = (): KmsError =>
  new KmsError('UnrecognizedClientException', 400, 'The security token included in the request is invalid.');

export function randomAccessKeyId(prefix: 'AKIA' | 'ASIA'): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  return prefix + Array.from(randomBytes(16), (b) => alphabet[b % 32]).join('');
}

export function randomSecret(): string {
  return randomBytes(30).toString('base64').replace(/[+/]/g, 'A');
}

/** The encryption context as bytes that differ for any difference in keys or values. */
function encodeContext(context: Readonly<Record<string, string>>): Buffer {
  const entries = Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Buffer.from(JSON.stringify(entries), 'utf8');
}

/** Blob: version, key-id length, key id, 12-byte IV, 16-byte tag, ciphertext; all but the body authenticated. */
export function sealBlob(key: KeyRecord, plaintext: Buffer, context: Readonly<Record<string, string>>): Buffer {
  const keyId = Buffer.from(key.keyId, 'ascii');
  const header = Buffer.concat([Buffer.from([BLOB_VERSION, keyId.length]), keyId]);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key.secret, iv);
  cipher.setAAD(Buffer.concat([BLOB_AAD_LABEL, header, encodeContext(context)]));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([header, iv, cipher.getAuthTag(), body]);
}

/** A ciphertext blob taken apart. */
export type ParsedBlob = { keyId: string; header: Buffer; iv: Buffer; tag: Buffer; body: Buffer };

export function parseBlob(blob: Buffer): ParsedBlob {
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

/** The plaintext of a parsed blob, under `key` and `context`. */
export function openBlob(key: KeyRecord, blob: ParsedBlob, context: Readonly<Record<string, string>>): Buffer {
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.secret, blob.iv);
    decipher.setAAD(Buffer.concat([BLOB_AAD_LABEL, blob.header, encodeContext(context)]));
    decipher.setAuthTag(blob.tag);
    return Buffer.concat([decipher.update(blob.body), decipher.final()]);
  } catch {
    // KMS says nothing more: a tampered blob and a different context look the same.
    throw new KmsError('InvalidCiphertextException', 400, '');
  }
}

export function stringField(input: JsonObject, name: string, required: true): string;
export function stringField(input: JsonObject, name: string, required: false): string | undefined;
export function stringField(input: JsonObject, name: string, required: boolean): string | undefined {
  const value = input[name];
  if (value === undefined || value === null) {
    if (required)
      throw new KmsError(
        'ValidationException',
        400,
        `1 validation error detected: Value null at '${lowerFirst(name)}' failed to satisfy constraint: ` +
          `Member must not be null`,
      );
    return undefined;
  }
  if (typeof value !== 'string') throw new KmsError('SerializationException', 400, `${name} must be a string`);
  return value;
}

export function blobField(input: JsonObject, name: string): Buffer {
  const value = stringField(input, name, true);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) {
    throw new KmsError('SerializationException', 400, `${name} is not valid base64`);
  }
  return Buffer.from(value, 'base64');
}

export function contextField(input: JsonObject): Record<string, string> {
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

export function checkAlgorithm(input: JsonObject): void {
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

export function checkFault(fault: AwsKmsFault): void {
  if (fault.kind === 'latency' && !(typeof fault.ms === 'number' && fault.ms >= 0))
    throw new TypeError('a latency fault needs ms >= 0');
  if (fault.times !== undefined && !(Number.isInteger(fault.times) && fault.times > 0))
    throw new TypeError('fault times must be a positive integer');
}
