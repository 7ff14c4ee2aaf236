// An application node that keeps writing while the several-nodes tests migrate, kill and restart
// things: it sets atrest secrets and updates rows of the application's `datasources.password`
// target (through its own pg connection, as an application does), until its stdin closes. Each
// writer owns its own slice of names and rows (`i` of `n`), so the last value it wrote to each is
// what the database must hold at the end. A write that fails is retried with the same value; the
// failure is counted by error code (atrest's typed codes, or `pg:<code>` for the application's own
// connection). Every 25 writes it prints {"ops":N}; at the end, its report as one JSON line.
// Usage: node ha-writer.js I N SECRETS ROWS (configuration from the environment).
import { isAtrestError, openAtrest } from '@atrest/core';
import pg from 'pg';
import { HA_TARGET, type WriterReport, haSecretName } from './ha-fixture.js';
import { repoRoot } from './helpers.js';

const [i = 0, n = 1, secretCount = 0, rowCount = 0] = process.argv.slice(2).map(Number);
const atrest = await openAtrest({ env: process.env, appRoot: repoRoot });
const app = new pg.Pool({ connectionString: process.env['ATREST_DATABASE_URL'], max: 1 });
// The application's idle connection breaks when the server restarts; its next query reconnects.
app.on('error', () => undefined);
const report: WriterReport = { ops: 0, errors: {}, unexpected: [], secrets: {}, rows: {} };

let stop = false;
process.stdin.on('data', () => undefined);
process.stdin.on('end', () => {
  stop = true;
});

/** A random member of this writer's slice of 0..count-1. */
function owned(count: number): number {
  const slots = Math.ceil((count - i) / n);
  return i + n * Math.floor(Math.random() * slots);
}

const connectionCodes = /^(57P0[123]|08\d\d[\dA-Z]?|ECONNREFUSED|ECONNRESET|EPIPE)$/;

/**
 * Write until it succeeds (a failed write may have committed: only the same value written again
 * makes the end state certain); true once written. An untyped failure ends the writer's run.
 */
async function untilWritten(write: () => Promise<unknown>): Promise<boolean> {
  for (;;) {
    try {
      await write();
      return true;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const key = isAtrestError(err) ? err.code : `pg:${String(code)}`;
      const typed = isAtrestError(err, 'ATREST_STORE') || (!isAtrestError(err) && connectionCodes.test(String(code)));
      const lost = /Connection terminated|connection error|not queryable/i.test((err as Error).message);
      if (!typed && !lost) {
        report.unexpected.push(`${key}: ${(err as Error).message}`);
        return false;
      }
      report.errors[key] = (report.errors[key] ?? 0) + 1;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

while (!stop && report.unexpected.length === 0) {
  const seq = report.ops + 1;
  if (rowCount === 0 || Math.random() < 0.5) {
    const name = haSecretName(owned(secretCount));
    const value = `w${i}-${seq}-${name}`;
    if (await untilWritten(() => atrest.secrets.set(name, value))) report.secrets[name] = value;
  } else {
    const id = owned(rowCount) + 1;
    const value = `w${i}-${seq}-row-${id}`;
    const written = await untilWritten(async () => {
      const text = await atrest.encryptText(value, { target: HA_TARGET });
      await app.query('UPDATE datasources SET password = $1 WHERE id = $2', [text, id]);
    });
    if (written) report.rows[id] = value;
  }
  report.ops = seq;
  // A busy application, not a benchmark: the machine is shared with the migration under test.
  await new Promise((resolve) => setTimeout(resolve, 20));
  if (seq % 25 === 0) process.stdout.write(`${JSON.stringify({ ops: seq })}\n`);
}

await atrest.close();
await app.end();
process.stdout.write(`${JSON.stringify(report)}\n`);
