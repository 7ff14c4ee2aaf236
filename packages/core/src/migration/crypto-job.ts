// One batch of re-encrypt cryptography as a single transferable buffer: the data keys it needs and
// its values in, the results out. The main thread builds jobs and reads results; `runJob` does the
// AES-GCM on a worker thread (or on the main thread when there is one worker). Keys travel inside
// the job and are zeroed with it once it has run, so a worker holds no key between jobs.
import { HEADER_LENGTH, TAG_LENGTH } from '../envelope/format.js';
import { SEAL_PREFIX_LENGTH, openEnvelope, sealEnvelope } from '../envelope/gcm.js';
import type { NoncePool } from '../envelope/gcm.js';
import { errors } from '../errors.js';

/** What a job does with one value. */
export const JobOp = {
  /** Decrypt; the result is the plaintext. */
  open: 1,
  /** Decrypt and forget (a dry run); the result is empty. */
  verify: 2,
  /** Decrypt, then encrypt under the sealing key; the result is the new ciphertext. */
  reseal: 3,
  /** Encrypt legacy plaintext under the sealing key. */
  seal: 4,
} as const;
export type JobOp = (typeof JobOp)[keyof typeof JobOp];

const KEY_LENGTH = 32;
/** A key slot: the key, then the header prefix it seals with (zeros for a key that only opens). */
const KEY_SLOT = KEY_LENGTH + SEAL_PREFIX_LENGTH;
/** op u8, opening key u16, sealing key u16, context length u32, input length u32. */
const ITEM_HEADER = 13;
const OVERHEAD = HEADER_LENGTH + TAG_LENGTH;

type JobItem = { op: JobOp; openKey: number; sealKey: number; context: Uint8Array; input: Uint8Array };

/** Collects a job's keys and values, then lays them out in one buffer. */
export class JobBuilder {
  private readonly keys: Buffer[] = [];
  private readonly items: JobItem[] = [];
  private length = 8;

  /** Add a key (copied now); `header` for a key that seals. Returns its index. */
  addKey(key: Uint8Array, header?: Uint8Array): number {
    if (key.length !== KEY_LENGTH) throw errors.internal(`a data key of ${key.length} bytes was added to a job`);
    const slot = Buffer.alloc(KEY_SLOT);
    slot.set(key, 0);
    if (header !== undefined) slot.set(header.subarray(0, SEAL_PREFIX_LENGTH), KEY_LENGTH);
    this.keys.push(slot);
    this.length += KEY_SLOT;
    return this.keys.length - 1;
  }

  /** Add a value; returns its index among the results. */
  add(op: JobOp, input: Uint8Array, context: Uint8Array, keys: { open?: number; seal?: number }): number {
    this.items.push({ op, openKey: keys.open ?? 0, sealKey: keys.seal ?? 0, context, input });
    this.length += ITEM_HEADER + context.length + input.length;
    return this.items.length - 1;
  }

  /** The job; the builder's copies of the keys are zeroed. */
  build(): ArrayBuffer {
    const out = Buffer.from(new ArrayBuffer(this.length));
    let at = out.writeUInt32LE(this.keys.length, 0);
    for (const slot of this.keys) {
      at += slot.copy(out, at);
      slot.fill(0);
    }
    at = out.writeUInt32LE(this.items.length, at);
    for (const item of this.items) {
      at = out.writeUInt8(item.op, at);
      at = out.writeUInt16LE(item.openKey, at);
      at = out.writeUInt16LE(item.sealKey, at);
      at = out.writeUInt32LE(item.context.length, at);
      at = out.writeUInt32LE(item.input.length, at);
      out.set(item.context, at);
      at += item.context.length;
      out.set(item.input, at);
      at += item.input.length;
    }
    return out.buffer as ArrayBuffer;
  }
}

/** Upper bound of a value's result. */
function resultLength(op: JobOp, inputLength: number): number {
  if (op === JobOp.open) return Math.max(0, inputLength - OVERHEAD);
  if (op === JobOp.verify) return 0;
  if (op === JobOp.reseal) return inputLength;
  return inputLength + OVERHEAD;
}

/**
 * Run a job: per value a status byte (0 done, 1 failed: the main thread finds out why), a length
 * and the bytes. The job buffer, keys included, is zeroed before this returns.
 */
export function runJob(job: ArrayBuffer, nonces: NoncePool): ArrayBuffer {
  const buf = Buffer.from(job);
  try {
    const keyCount = buf.readUInt32LE(0);
    const key = (i: number): Buffer => buf.subarray(4 + i * KEY_SLOT, 4 + i * KEY_SLOT + KEY_LENGTH);
    const prefix = (i: number): Buffer => buf.subarray(4 + i * KEY_SLOT + KEY_LENGTH, 4 + (i + 1) * KEY_SLOT);
    const itemsAt = 4 + keyCount * KEY_SLOT;
    const count = buf.readUInt32LE(itemsAt);
    let size = 4;
    for (let i = 0, at = itemsAt + 4; i < count; i++) {
      const contextLength = buf.readUInt32LE(at + 5);
      const inputLength = buf.readUInt32LE(at + 9);
      size += 5 + resultLength(buf.readUInt8(at) as JobOp, inputLength);
      at += ITEM_HEADER + contextLength + inputLength;
    }
    const out = Buffer.from(new ArrayBuffer(size));
    let to = out.writeUInt32LE(count, 0);
    for (let i = 0, at = itemsAt + 4; i < count; i++) {
      const op = buf.readUInt8(at) as JobOp;
      const openKey = buf.readUInt16LE(at + 1);
      const sealKey = buf.readUInt16LE(at + 3);
      const contextLength = buf.readUInt32LE(at + 5);
      const inputLength = buf.readUInt32LE(at + 9);
      const context = buf.subarray(at + ITEM_HEADER, at + ITEM_HEADER + contextLength);
      const input = buf.subarray(at + ITEM_HEADER + contextLength, at + ITEM_HEADER + contextLength + inputLength);
      at += ITEM_HEADER + contextLength + inputLength;
      let result: Buffer | undefined;
      try {
        if (op === JobOp.seal) result = sealEnvelope(key(sealKey), prefix(sealKey), nonces, input, context);
        else {
          const plain = openEnvelope(key(openKey), input, context);
          if (op === JobOp.open) result = plain;
          else {
            result =
              op === JobOp.reseal
                ? sealEnvelope(key(sealKey), prefix(sealKey), nonces, plain, context)
                : Buffer.alloc(0);
            plain.fill(0);
          }
        }
      } catch {
        result = undefined;
      }
      to = out.writeUInt8(result === undefined ? 1 : 0, to);
      to = out.writeUInt32LE(result?.length ?? 0, to);
      if (result !== undefined) {
        to += result.copy(out, to);
        if (op === JobOp.open) result.fill(0);
      }
    }
    return out.buffer as ArrayBuffer;
  } finally {
    buf.fill(0);
  }
}

/** The results of a job, by value index: the bytes, or undefined for a value that failed. */
export function readResults(result: ArrayBuffer): (Buffer | undefined)[] {
  const buf = Buffer.from(result);
  const count = buf.readUInt32LE(0);
  const out: (Buffer | undefined)[] = [];
  for (let i = 0, at = 4; i < count; i++) {
    const failed = buf.readUInt8(at) === 1;
    const length = buf.readUInt32LE(at + 1);
    out.push(failed ? undefined : buf.subarray(at + 5, at + 5 + length));
    at += 5 + length;
  }
  return out;
}
