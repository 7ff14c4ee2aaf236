#!/usr/bin/env node
// bench:envelope — 1 KiB values, encrypt + decrypt, warm data key cache. Compares atrest with the
// bare node:crypto AES-256-GCM limit and with the AWS Encryption SDK (its fastest fair setting:
// raw AES keyring, the non-signing committing suite, a caching materials manager). atrest on SQLite
// (default) or PostgreSQL (--store postgres: a server of its own, or --db URL). Prints, last, one
// JSON line, with the machine's load average before and after.
// Usage: pnpm run bench:envelope -- [--json] [--seconds S] [--store sqlite|postgres] [--db URL]
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { openAtrest } from '@atrest/core';
import { postgresStore, sqliteStore } from './bench-stores.mjs';
import {
  AlgorithmSuiteIdentifier,
  CommitmentPolicy,
  NodeCachingMaterialsManager,
  RawAesKeyringNode,
  RawAesWrappingSuiteIdentifier,
  buildClient,
  getLocalCryptographicMaterialsCache,
} from '@aws-crypto/client-node';

// pnpm 10 passes the '--' of `pnpm run bench:… -- --json` through: drop it.
const { values: opts } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: {
    json: { type: 'boolean' },
    seconds: { type: 'string', default: '2' },
    store: { type: 'string', default: 'sqlite' },
    db: { type: 'string' },
  },
  strict: true,
});
if (opts.store !== 'sqlite' && opts.store !== 'postgres') throw new Error('--store is sqlite or postgres');
if (opts.db !== undefined && opts.store !== 'postgres') throw new Error('--db URL goes with --store postgres');
const loadBefore = loadavg()[0];
const seconds = Number(opts.seconds);
const VALUES = 256;
const values = Array.from({ length: VALUES }, () => randomBytes(1024));
const context = 'bench.table:42';

/** Run `pair(i)` (one encrypt + one decrypt) for about `seconds`; returns pairs per second (best of 3 rounds). */
async function measure(name, pair, roundSeconds = seconds / 3) {
  for (let i = 0; i < 200; i++) await pair(i); // warm-up
  let best = 0;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    const deadline = start + BigInt(Math.round(roundSeconds * 1e9));
    let n = 0;
    let now = start;
    while (now < deadline) {
      for (let k = 0; k < 64; k++) await pair(n++);
      now = process.hrtime.bigint();
    }
    best = Math.max(best, n / (Number(now - start) / 1e9));
  }
  if (!opts.json) console.error(`${name.padEnd(8)} ${Math.round(best).toLocaleString('en')} encrypt+decrypt/s`);
  return best;
}

const dir = mkdtempSync(join(tmpdir(), 'atrest-bench-'));
const store = opts.store === 'postgres' ? await postgresStore(opts.db) : sqliteStore(dir);
try {
  // atrest: file provider, a real SQLite or PostgreSQL store, warm cache.
  const atrest = await openAtrest({
    app: 'bench',
    env: {},
    database: store.database,
    options: { 'security.encryption.file.default.key_path': join(dir, 'bench.key') },
  });
  const atrestOps = await measure('atrest', async (i) => {
    const v = values[i % VALUES];
    const ct = await atrest.encrypt(v, { context });
    const pt = await atrest.decrypt(ct, { context });
    if (pt.length !== v.length) throw new Error('atrest round trip failed');
  });
  await atrest.close();

  // The limit: bare AES-256-GCM with one fixed key, a random nonce per value, the same AAD.
  const key = randomBytes(32);
  const aad = Buffer.from(context);
  const rawOps = await measure('raw gcm', async (i) => {
    const v = values[i % VALUES];
    const nonce = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', key, nonce);
    c.setAAD(aad);
    const body = Buffer.concat([c.update(v), c.final()]);
    const tag = c.getAuthTag();
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad);
    d.setAuthTag(tag);
    const pt = Buffer.concat([d.update(body), d.final()]);
    if (pt.length !== v.length) throw new Error('raw round trip failed');
  });

  // The closest peer: AWS Encryption SDK, raw AES keyring, committing non-signing suite, caching CMM.
  const { encrypt, decrypt } = buildClient(CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT);
  const keyring = new RawAesKeyringNode({
    keyName: 'bench',
    keyNamespace: 'atrest-bench',
    unencryptedMasterKey: new Uint8Array(randomBytes(32)),
    wrappingSuite: RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  });
  const cmm = new NodeCachingMaterialsManager({
    backingMaterials: keyring,
    cache: getLocalCryptographicMaterialsCache(100),
    maxAge: 3_600_000,
    maxMessagesEncrypted: 2 ** 31,
    partition: 'bench',
  });
  const esdkOps = await measure('esdk', async (i) => {
    const v = values[i % VALUES];
    const { result } = await encrypt(cmm, v, {
      suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
      encryptionContext: { ctx: context },
      plaintextLengthBytes: v.length,
    });
    const { plaintext } = await decrypt(cmm, result);
    if (plaintext.length !== v.length) throw new Error('esdk round trip failed');
  });

  const out = {
    store: store.name,
    value_bytes: 1024,
    atrest_ops_per_s: Math.round(atrestOps),
    raw_gcm_ops_per_s: Math.round(rawOps),
    esdk_ops_per_s: Math.round(esdkOps),
    atrest_vs_raw: Number((atrestOps / rawOps).toFixed(3)),
    atrest_vs_esdk: Number((atrestOps / esdkOps).toFixed(1)),
    load_before: Number(loadBefore.toFixed(2)),
    load_after: Number(loadavg()[0].toFixed(2)),
  };
  if (!opts.json)
    console.error(`atrest/raw ${out.atrest_vs_raw} (goal >= 0.9), atrest/esdk ${out.atrest_vs_esdk} (goal >= 20)`);
  console.log(JSON.stringify(out));
} finally {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
}
