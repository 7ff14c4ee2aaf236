#!/usr/bin/env node
// bench:envelope — 1 KiB values, encrypt + decrypt, warm data key cache. Compares atrest with the
// bare node:crypto AES-256-GCM limit and with the AWS Encryption SDK (its fastest fair setting:
// raw AES keyring, the non-signing committing suite, a caching materials manager). atrest on SQLite
// (default) or PostgreSQL (--store postgres: a server of its own, or --db URL). atrest and the limit
// take turns in short rounds (best round each), so a load that comes and goes weighs on both; the
// cost per CPU second is given too. Prints, last, one JSON line, with the load average before and after.
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
    seconds: { type: 'string', default: '3' },
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

const ROUNDS = 12;
/**
 * Run each contender's `pair(i)` (one encrypt + one decrypt) in turns: ROUNDS rounds, each giving every
 * contender about `seconds / ROUNDS`, so that a change in the machine's load (other processes on the
 * same cores) falls on all of them alike. Returns, by name, pairs per second of wall-clock time (its
 * best round) and per second of this process's CPU time over all its rounds (what a pair costs,
 * whatever the other processes take of the cores).
 */
async function measure(contenders) {
  for (const { pair } of contenders) for (let i = 0; i < 200; i++) await pair(i); // warm-up
  const best = new Map(contenders.map(({ name }) => [name, { wall: 0, cpu: 0, pairs: 0, cpuUs: 0 }]));
  const roundNs = BigInt(Math.round((seconds / ROUNDS) * 1e9));
  for (let round = 0; round < ROUNDS; round++) {
    for (const { name, pair } of contenders) {
      const cpuStart = process.cpuUsage();
      const start = process.hrtime.bigint();
      const deadline = start + roundNs;
      let n = 0;
      let now = start;
      while (now < deadline) {
        for (let k = 0; k < 64; k++) await pair(n++);
        now = process.hrtime.bigint();
      }
      const cpu = process.cpuUsage(cpuStart);
      const b = best.get(name);
      b.wall = Math.max(b.wall, n / (Number(now - start) / 1e9));
      b.pairs += n;
      b.cpuUs += cpu.user + cpu.system;
      b.cpu = b.pairs / (b.cpuUs / 1e6);
    }
  }
  if (!opts.json) {
    for (const [name, { wall, cpu }] of best) {
      const fmt = (x) => Math.round(x).toLocaleString('en');
      console.error(`${name.padEnd(8)} ${fmt(wall)} encrypt+decrypt/s, ${fmt(cpu)} per CPU second`);
    }
  }
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
  const atrestPair = async (i) => {
    const v = values[i % VALUES];
    const ct = await atrest.encrypt(v, { context });
    const pt = await atrest.decrypt(ct, { context });
    if (pt.length !== v.length) throw new Error('atrest round trip failed');
  };

  // The limit: bare AES-256-GCM with one fixed key, a random nonce per value, the same AAD.
  const key = randomBytes(32);
  const aad = Buffer.from(context);
  const rawPair = async (i) => {
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
  };

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
  const esdkPair = async (i) => {
    const v = values[i % VALUES];
    const { result } = await encrypt(cmm, v, {
      suiteId: AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY,
      encryptionContext: { ctx: context },
      plaintextLengthBytes: v.length,
    });
    const { plaintext } = await decrypt(cmm, result);
    if (plaintext.length !== v.length) throw new Error('esdk round trip failed');
  };

  // atrest and the limit take turns; the SDK runs after them, so that the garbage it leaves is not
  // collected during their rounds.
  const ops = await measure([
    { name: 'atrest', pair: atrestPair },
    { name: 'raw gcm', pair: rawPair },
  ]);
  await atrest.close();
  const esdkOps = (await measure([{ name: 'esdk', pair: esdkPair }])).get('esdk').wall;
  const atrestOps = ops.get('atrest').wall;
  const rawOps = ops.get('raw gcm').wall;
  const atrestCpu = ops.get('atrest').cpu;
  const rawCpu = ops.get('raw gcm').cpu;

  const out = {
    store: store.name,
    value_bytes: 1024,
    atrest_ops_per_s: Math.round(atrestOps),
    raw_gcm_ops_per_s: Math.round(rawOps),
    esdk_ops_per_s: Math.round(esdkOps),
    atrest_vs_raw: Number((atrestOps / rawOps).toFixed(3)),
    atrest_vs_esdk: Number((atrestOps / esdkOps).toFixed(1)),
    atrest_cpu_ops_per_s: Math.round(atrestCpu),
    raw_gcm_cpu_ops_per_s: Math.round(rawCpu),
    atrest_vs_raw_cpu: Number((atrestCpu / rawCpu).toFixed(3)),
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
