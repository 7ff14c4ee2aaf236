// A re-encrypt worker that exits on its first job without answering, as one killed by its runtime.
import { parentPort } from 'node:worker_threads';

parentPort?.on('message', () => process.exit(3));
