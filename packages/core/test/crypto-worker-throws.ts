// A re-encrypt worker that fails on its first job, as a worker thread that hits a bug would.
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', () => {
  throw new Error('the worker failed on purpose');
});
