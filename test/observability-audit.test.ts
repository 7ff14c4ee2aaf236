// The audit trail as a security reviewer reads it: the JSON-lines file `[security.encryption]
// audit_log` (0600) after every migration command run by the CLI, the application's `onAudit` hook,
// reads of atrest's secrets when asked for, a change of provider, and whole lines only after the
// writing process is killed with SIGKILL. Never a value, a key or a passphrase in a record.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import type { AuditEvent } from '@atrest/core';
import { runCli } from '@atrest/cli';
import { memoryStreams, spawnNode, tempDir, writeIn } from '@atrest/testkit';
import { TARGET, repoRoot, seedApplication } from './helpers.js';

const PASSPHRASE = 'an-audited-passphrase-of-some-length';

function appliance(extra = ''): { dir: string; db: string; key: string; log: string; ini: string } {
  const dir = tempDir('atrest-obs-audit-');
  const db = join(dir, 'app.db');
  const key = join(dir, 'k.key');
  const log = join(dir, 'log', 'atrest-audit.log');
  const ini = writeIn(
    dir,
    'app.ini',
    `[security.encryption]\naudit_log = ${log}\n${extra}[security.encryption.file.default]\nkey_path = ${key}\n` +
      `[secrets_migration]\ntargets = ${TARGET}\n[database]\npath = ${db}\n`,
  );
  return { dir, db, key, log, ini };
}

/** Every line of the audit file, parsed (throws on a torn or foreign line). */
function records(log: string): AuditEvent[] {
  const text = readFileSync(log, 'utf8');
  if (text !== '' && !text.endsWith('\n')) throw new Error('the audit file does not end with a newline');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as AuditEvent);
}

async function cli(ini: string, argv: string[], input = ''): Promise<number> {
  const m = memoryStreams(input);
  const code = await runCli(['--config', ini, ...argv], { env: {}, appRoot: repoRoot, io: m.io });
  if (code !== 0) throw new Error(`${argv.join(' ')}: exit ${code}: ${m.err()}`);
  return code;
}

t.test('every migration command of the CLI, and the application through onAudit', async (t) => {
  const a = appliance();
  t.equal(await cli(a.ini, ['init']), 0);
  const hooked: AuditEvent[] = [];
  const app = await openAtrest({
    configFile: a.ini,
    appRoot: repoRoot,
    env: {},
    actor: 'billing-job',
    onAudit: (e) => hooked.push(e),
  });
  const seeded = await seedApplication(app, a.db, { secrets: 2, encrypted: 3, plaintext: 2 });
  await app.close();
  t.equal(statSync(a.log).mode & 0o777, 0o600, 'the audit file is 0600');
  t.match(hooked, [{ event: 'data_key.created', provider: 'file.default', actor: 'billing-job', outcome: 'success' }]);
  t.same(records(a.log), hooked, 'the hook and the file get the same records');

  const steps: { argv: string[]; command: string; events: string[] }[] = [
    {
      argv: ['secrets-migration', 'rotate-data-keys'],
      command: 'secrets-migration rotate-data-keys',
      events: ['data_key.retired'],
    },
    {
      argv: ['secrets-migration', 're-encrypt'],
      command: 'secrets-migration re-encrypt',
      events: ['data_key.created'],
    },
    {
      argv: ['rotate-encryption-key'],
      command: 'rotate-encryption-key',
      events: ['data_key.rewrapped', 'provider_key.rotated'],
    },
    {
      argv: ['secrets-migration', 're-encrypt-data-keys'],
      command: 'secrets-migration re-encrypt-data-keys',
      events: [],
    },
    {
      argv: ['secrets-migration', 'cleanup'],
      command: 'secrets-migration cleanup',
      events: [],
    },
    {
      argv: ['rotate-encryption-key', '--prune'],
      command: 'rotate-encryption-key --prune',
      events: ['provider_key.pruned'],
    },
  ];
  for (const step of steps) {
    const before = records(a.log).length;
    await cli(a.ini, step.argv);
    const added = records(a.log).slice(before);
    const names = added.map((e) => e.event);
    t.equal(names[0], 'migration.started', `${step.command}: started`);
    t.ok(names.includes('migration.finished'), `${step.command}: finished`);
    for (const e of step.events) t.ok(names.includes(e as AuditEvent['event']), `${step.command}: ${e}`);
    t.match(
      added.find((e) => e.event === 'migration.finished'),
      { command: step.command, provider: 'file.default' },
    );
    t.ok(
      added.every(
        (e) => /^cli:/.test(e.actor ?? '') && e.pid > 0 && e.host !== '' && !Number.isNaN(Date.parse(e.time)),
      ),
      `${step.command}: actor, process, host and time on every record`,
    );
    t.ok(
      added
        .filter((e) => e.event.startsWith('data_key.'))
        .every((e) => /^[0-9a-f]{32}$/.test(e.dataKeyId ?? '') && e.provider === 'file.default'),
      'data key events name the data key and its provider',
    );
  }
  const reEncrypted = records(a.log).find((e) => e.event === 'migration.finished' && e.command?.endsWith('re-encrypt'));
  t.match(reEncrypted?.details, { rowsFailed: 0, rowsChanged: 7, dryRun: false }, 'the counts of the run');

  const text = readFileSync(a.log, 'utf8');
  const key = readFileSync(a.key, 'utf8');
  for (const v of [...seeded.secrets.values(), ...seeded.rows.values()]) {
    t.notOk(text.includes(v), 'no value in the audit file');
  }
  for (const secret of key.match(/[A-Za-z0-9+/=_-]{40,}/g) ?? []) t.notOk(text.includes(secret), 'no key material');
});

t.test("reads of atrest's secrets by name, and a change of provider", async (t) => {
  const a = appliance('audit_secret_reads = true\n');
  let app = await openAtrest({ configFile: a.ini, appRoot: repoRoot, env: {} });
  await app.secrets.set('smtp-password', 'the smtp password');
  t.equal(await app.secrets.getText('smtp-password'), 'the smtp password');
  t.equal(await app.secrets.getText('no-such-secret'), undefined);
  await app.close();
  t.match(
    records(a.log).filter((e) => e.event === 'secret.read'),
    [{ secret: 'smtp-password', outcome: 'success' }],
    'one read, by name; a missing secret reads nothing',
  );
  t.notOk(readFileSync(a.log, 'utf8').includes('the smtp password'), 'never the value');

  app = await openAtrest({
    configFile: a.ini,
    appRoot: repoRoot,
    env: {},
    options: { 'security.secret_key': PASSPHRASE, 'security.encryption_provider': 'secret_key.default' },
  });
  await app.close();
  t.match(
    records(a.log).filter((e) => e.event === 'provider.changed'),
    [{ provider: 'secret_key.default', details: { previous: 'file.default' } }],
    'the new current provider, and the previous one',
  );
  t.notOk(readFileSync(a.log, 'utf8').includes(PASSPHRASE), 'never the passphrase');
  const again = await openAtrest({
    configFile: a.ini,
    appRoot: repoRoot,
    env: {},
    options: { 'security.secret_key': PASSPHRASE, 'security.encryption_provider': 'secret_key.default' },
  });
  await again.close();
  t.equal(records(a.log).filter((e) => e.event === 'provider.changed').length, 1, 'said once, not at every start');
});

t.test('a process killed with SIGKILL while it writes leaves whole lines only', async (t) => {
  const a = appliance();
  t.equal(await cli(a.ini, ['init']), 0);
  // A process that rotates data keys and encrypts without pause: an audit record every few ms.
  const script = `
    import { openAtrest } from '@atrest/core';
    const app = await openAtrest({ configFile: ${JSON.stringify(a.ini)}, appRoot: process.cwd(), env: {} });
    for (let i = 0; ; i++) {
      await app.encryptText('value ' + i, { scope: 's' + (i % 5) });
      if (i % 5 === 4) await app.migrations.rotateDataKeys();
      if (i === 50) process.stdout.write('writing\\n');
    }
  `;
  const writer = spawnNode(['--input-type=module', '-e', script], { cwd: repoRoot });
  await new Promise<void>((resolve, reject) => {
    writer.child.stdout?.on('data', () => resolve());
    writer.done.then((r) => reject(new Error(`ended early: ${r.stderr}`)), reject);
  });
  writer.child.kill('SIGKILL');
  const run = await writer.done;
  t.equal(run.signal, 'SIGKILL', 'killed');
  const before = records(a.log);
  t.ok(before.length > 50, `${before.length} records, every one a whole JSON line`);
  await cli(a.ini, ['secrets-migration', 'rotate-data-keys']);
  const after = records(a.log);
  t.same(after.slice(0, before.length), before, 'later writers append after them');
  t.equal(after.at(-1)?.event, 'migration.finished');
});

t.test('turning encryption off is audited, with the data keys it dropped', async (t) => {
  const a = appliance();
  const ini = writeIn(
    a.dir,
    'passphrase.ini',
    `${readFileSync(a.ini, 'utf8')}[security]\nsecret_key = ${PASSPHRASE}\n`,
  );
  const app = await openAtrest({ configFile: ini, appRoot: repoRoot, env: {} });
  await seedApplication(app, a.db, { secrets: 1, encrypted: 1, plaintext: 0 });
  await app.close();
  await cli(ini, ['rotate-encryption-key', '--yes'], '');
  const events = records(a.log);
  t.match(
    events.filter((e) => e.event === 'encryption.disabled'),
    [{ provider: 'secret_key.default', details: { dataKeysDropped: 2 } }],
  );
  t.match(
    events.filter((e) => e.event === 'data_key.deleted'),
    [{ provider: 'secret_key.default' }],
    'dropped',
  );
  t.notOk(readFileSync(a.log, 'utf8').includes(PASSPHRASE), 'never the passphrase');
});
