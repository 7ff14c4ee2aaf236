// A re-encrypt worker thread: runs each job the main thread posts (crypto-job.ts) and posts the
// result back, one at a time. It holds nothing between jobs: each job brings its keys and is
// zeroed once run.
import { parentPort } from 'node:worker_threads';
import { NoncePool } from '../envelope/gcm.js';
import { errors } from '../errors.js';
import { runJob } from './crypto-job.js';

const port = parentPort;
if (port === null) throw errors.internal('the re-encrypt worker module was loaded outside a worker thread');
const nonces = new NoncePool();
port.on('message', (job: ArrayBuffer) => {
  const result = runJob(job, nonces);
  port.postMessage(result, [result]);
});
