// The AWS KMS emulator's keys and aliases, resolved as KMS resolves a key reference (key id, key
// ARN, alias name, alias ARN), with KMS's own errors.
import { randomBytes, randomUUID } from 'node:crypto';
import type { KeyRecord } from './aws-kms-wire.js';
import { KmsError, UUID } from './aws-kms-wire.js';
import type { JsonObject } from './http-emulator.js';

/** The keys and aliases of one emulated account and region. */
export function createKeyStore(region: string, accountId: string) {
  const arnPrefix = `arn:aws:kms:${region}:${accountId}:`;
  const keys = new Map<string, KeyRecord>();
  const aliases = new Map<string, string>();

  function addKey(description: string, keySpec = 'SYMMETRIC_DEFAULT', keyUsage = 'ENCRYPT_DECRYPT'): KeyRecord {
    const keyId = randomUUID();
    const key: KeyRecord = {
      keyId,
      arn: `${arnPrefix}key/${keyId}`,
      secret: randomBytes(32),
      description,
      createdAt: new Date(),
      enabled: true,
      keySpec,
      keyUsage,
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
    if (key.keySpec !== 'SYMMETRIC_DEFAULT' || key.keyUsage !== 'ENCRYPT_DECRYPT') {
      throw new KmsError(
        'InvalidKeyUsageException',
        400,
        `You cannot use ${key.arn} (${key.keySpec}, ${key.keyUsage}) with the SYMMETRIC_DEFAULT algorithm.`,
      );
    }
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
      KeyUsage: key.keyUsage,
      KeyState: key.enabled ? 'Enabled' : 'Disabled',
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      CustomerMasterKeySpec: key.keySpec,
      KeySpec: key.keySpec,
      EncryptionAlgorithms: key.keySpec === 'SYMMETRIC_DEFAULT' ? ['SYMMETRIC_DEFAULT'] : ['RSAES_OAEP_SHA_256'],
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

  return { arnPrefix, keys, aliases, addKey, resolveKey, usableKey, keyMetadata, createAlias };
}
