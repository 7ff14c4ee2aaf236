// Where re-encrypt's cryptography runs: on worker threads, one job per worker at a time, or on the
// calling thread when there is one worker. A worker that fails (throws, exits, cannot start) stops
// the pool: its job and every queued one reject with ATREST_MIGRATION_FAILED, nothing is retried,
// and the pass stops with nothing half-written (what was not written is still what it was).
import { Worker } from 'node:worker_threads';
import { NoncePool } from '../envelope/gcm.js';
import { errors } from '../errors.js';
import type { AtrestError } from '../errors.js';
import { runJob } from './crypto-job.js';

/** Runs jobs (crypto-job.ts). */
export type CryptoRunner = {
  /** Jobs that may run at once. */
  readonly parallelism: number;
  /** Run a job (it is transferred: the caller's buffer is detached). */
  run(job: ArrayBuffer): Promise<ArrayBuffer>;
  /** Stop the workers. */
  close(): Promise<void>;
};

/** The module the worker threads run. */
const CRYPTO_WORKER = new URL('./crypto-worker.js', import.meta.url);

/** Jobs on the calling thread. */
export function inlineRunner(): CryptoRunner {
  const nonces = new NoncePool();
  return { parallelism: 1, run: async (job) => runJob(job, nonces), close: async () => undefined };
}

type Pending = { job: ArrayBuffer; resolve: (result: ArrayBuffer) => void; reject: (err: unknown) => void };

/** `size` worker threads running `entry` (CRYPTO_WORKER; a test gives one that fails). */
export function startWorkerPool(size: number, entry: URL = CRYPTO_WORKER): CryptoRunner {
  const workers: Worker[] = [];
  const idle: Worker[] = [];
  const busy = new Map<Worker, Pending>();
  let queue: Pending[] = [];
  let failure: AtrestError | undefined;
  let closing = false;

  const next = (): void => {
    for (let w = idle.pop(); w !== undefined; w = idle.pop()) {
      const p = queue.shift();
      if (p === undefined) {
        idle.push(w);
        return;
      }
      busy.set(w, p);
      w.postMessage(p.job, [p.job]);
    }
  };
  const fail = (cause: unknown): void => {
    if (failure !== undefined || closing) return;
    failure = errors.migrationFailed(
      `A re-encrypt worker thread failed (${cause instanceof Error ? cause.message : String(cause)}): ` +
        'the batches it had not finished were not written; every value keeps a valid ciphertext.',
      'Run the command again: it resumes where it stopped. If it fails again, run it with --workers 1 ' +
        'and report the cause.',
      { cause },
    );
    for (const p of [...busy.values(), ...queue]) {
      if (p.job.byteLength > 0) new Uint8Array(p.job).fill(0);
      p.reject(failure);
    }
    busy.clear();
    queue = [];
    for (const w of workers) void w.terminate();
  };
  for (let i = 0; i < size; i++) {
    const w = new Worker(entry);
    w.on('message', (result: ArrayBuffer) => {
      const p = busy.get(w);
      busy.delete(w);
      idle.push(w);
      p?.resolve(result);
      next();
    });
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`it exited with code ${code}`)));
    workers.push(w);
    idle.push(w);
  }
  return {
    parallelism: size,
    run(job) {
      if (failure !== undefined) return Promise.reject(failure);
      return new Promise<ArrayBuffer>((resolve, reject) => {
        queue.push({ job, resolve, reject });
        next();
      });
    },
    async close() {
      closing = true;
      for (const p of queue) new Uint8Array(p.job).fill(0);
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
