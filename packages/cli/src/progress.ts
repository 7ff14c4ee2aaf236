// Progress of long commands on stderr: one line rewritten in place on a TTY, plain lines every few
// seconds and at the end otherwise (logs of a service manager): the count, then the rate and ETA
// once a second has passed (a rate over a few milliseconds says nothing: "0 rows/s").
import type { Progress } from '@atrest/core';
import type { CliIo } from './io.js';

const TTY_INTERVAL_MS = 100;
const PLAIN_INTERVAL_MS = 2000;

/** Reports `done` of `total` units of `label`; `finish` ends the TTY line. */
export type ProgressReporter = {
  update(label: string, done: number, total: number, elapsedMs: number): void;
  finish(): void;
};

export function progressReporter(io: CliIo, unit: string): ProgressReporter {
  const tty = io.stderr.isTTY === true;
  // Off a TTY the first line comes only after PLAIN_INTERVAL_MS.
  let last = tty ? 0 : Date.now();
  let shown = false;
  return {
    update(label, done, total, elapsedMs) {
      const now = Date.now();
      // Throttled, so that a command reporting after every item does not spend its time printing.
      if (now - last < (tty ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS) && done < total) return;
      last = now;
      const n = (x: number) => x.toLocaleString('en');
      let line = `${label}: ${n(done)}/${n(total)} ${unit}`;
      if (elapsedMs >= 1000 && done > 0) {
        const rate = (done * 1000) / elapsedMs;
        line += `, ${n(Math.round(rate))} ${unit}/s, ETA ${Math.max(0, Math.round((total - done) / rate))}s`;
      }
      if (tty) {
        io.stderr.write(`\r\u001b[K${line}`);
        shown = true;
      } else {
        io.stderr.write(`${line}\n`);
      }
    },
    finish() {
      if (shown) io.stderr.write('\n');
      shown = false;
    },
  };
}

/** Progress of the migration API (`onProgress`), in rows per target. */
export function rowProgress(io: CliIo): { onProgress: (p: Progress) => void; finish: () => void } {
  const reporter = progressReporter(io, 'rows');
  return {
    onProgress: (p) => reporter.update(p.target, p.scanned, p.total, p.elapsedMs),
    finish: () => reporter.finish(),
  };
}
