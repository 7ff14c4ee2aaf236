// One application node of the several-nodes tests: a real process that opens atrest on the shared
// PostgreSQL database (configured by its environment alone, as a container would be) and obeys
// JSON commands, one per stdin line, answering one JSON line each on stdout. The test starts every
// node, waits for each to say it is ready, then writes the same command to all of them at once.
// Commands: {"op":"encrypt","scopes":[…]} seals one value per scope, all at once, and answers the
// data key id and text of each; {"op":"decrypt","sealed":{…}} answers the plaintexts;
// {"op":"rotate"} retires the active data keys (secrets-migration rotate-data-keys);
// {"op":"cleanup"} runs the data key cleanup; {"op":"set","name":…} stores a secret; {"op":"lock"}
// takes the migration lock as a migration command does, through the store, and holds it.
import { hostname } from 'node:os';
import { createInterface } from 'node:readline';
import { dearmor, isAtrestError, openAtrest, readDataKeyId } from '@atrest/core';
import { openPostgresStore, postgresSettings } from '@atrest/store-postgres';
import { LOCK_COMMAND, type NodeAnswer, type NodeCommand, sealedValue } from './ha-fixture.js';
import { repoRoot } from './helpers.js';

const atrest = await openAtrest({ env: process.env, appRoot: repoRoot });

async function obey(command: NodeCommand): Promise<NodeAnswer> {
  if (command.op === 'encrypt') {
    const sealed = await Promise.all(
      command.scopes.map((scope) => atrest.encryptText(sealedValue(scope, process.pid), { scope, context: scope })),
    );
    const dataKeys: Record<string, string> = {};
    const texts: Record<string, string> = {};
    command.scopes.forEach((scope, i) => {
      const text = sealed[i] ?? '';
      texts[scope] = text;
      dataKeys[scope] = readDataKeyId(dearmor(text));
    });
    return { dataKeys, texts };
  }
  if (command.op === 'decrypt') {
    const values: Record<string, string> = {};
    for (const [name, [context, text]] of Object.entries(command.sealed)) {
      values[name] = await atrest.decryptText(text, { context });
    }
    return { values };
  }
  if (command.op === 'rotate') return { retired: await atrest.migrations.rotateDataKeys() };
  if (command.op === 'cleanup') return { cleanup: await atrest.migrations.cleanupDataKeys() };
  if (command.op === 'set') {
    await atrest.secrets.set(command.name, sealedValue(command.name, process.pid));
    return {};
  }
  const store = await openPostgresStore(postgresSettings({ url: process.env['ATREST_DATABASE_URL'] }));
  const holder = { command: LOCK_COMMAND, pid: process.pid, host: hostname(), since: new Date().toISOString() };
  await store.acquireMigrationLock(holder);
  return { locked: process.pid };
}

const lines = createInterface({ input: process.stdin });
process.stdout.write(`${JSON.stringify({ ready: process.pid })}\n`);
for await (const line of lines) {
  let answer: NodeAnswer;
  try {
    answer = await obey(JSON.parse(line) as NodeCommand);
  } catch (err) {
    answer = {
      error: { code: isAtrestError(err) ? err.code : 'NOT_ATREST', message: (err as Error).message },
    };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await atrest.close();
