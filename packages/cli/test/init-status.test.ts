// init and status as an operator runs them: real processes, real files in temporary directories.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { box, runAtrest, runInProcess } from './helpers.js';

t.test('init creates a 0600 key file (key-path override) and is idempotent', async (t) => {
  const b = box();
  const r = await runAtrest([...b.args, 'init']);
  t.equal(r.code, 0, r.stderr);
  t.equal(statSync(b.key).mode & 0o777, 0o600, 'key file 0600');
  t.equal(statSync(join(b.dir, 'srv')).mode & 0o777, 0o700, 'created directory 0700');
  const fp = /fingerprint: ([0-9a-f]{16})/.exec(r.stdout.toString())?.[1];
  t.ok(fp, 'prints the fingerprint');
  t.match(r.stdout.toString(), `key_path: ${b.key}`, 'prints the key path');
  const before = readFileSync(b.key);
  const again = await runAtrest([...b.args, 'init']);
  t.equal(again.code, 0);
  t.match(again.stdout.toString(), `fingerprint: ${fp}`, 'same key the second time');
  t.same(readFileSync(b.key), before, 'key file untouched');
  const env = await runAtrest(['--db', join(b.dir, 'env.db'), 'init'], {
    env: { ATREST_ENCRYPTION_KEY_PATH: join(b.dir, 'env', 'k.key') },
  });
  t.equal(env.code, 0, env.stderr);
  t.ok(existsSync(join(b.dir, 'env', 'k.key')), 'ATREST_ENCRYPTION_KEY_PATH moves the key file');
});

t.test('init --json: the database, the provider and its key facts as data', async (t) => {
  const b = box();
  const r = await runAtrest([...b.args, 'init', '--json']);
  t.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout.toString()) as {
    database: string;
    provider: string;
    details: Record<string, unknown>;
  };
  t.equal(report.database, b.db);
  t.equal(report.provider, 'file.default');
  t.match(report.details, { key_path: b.key, mode: '0600', fingerprint: /^[0-9a-f]{16}$/ });
  const again = JSON.parse((await runAtrest([...b.args, 'init', '--json'])).stdout.toString()) as typeof report;
  t.equal(again.details['fingerprint'], report.details['fingerprint'], 'the same key the second time');
});

t.test('status --json', async (t) => {
  const b = box();
  await runAtrest([...b.args, 'secrets', 'set', 'x'], { input: 'v' });
  const r = await runAtrest([...b.args, 'status', '--json']);
  t.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout.toString()) as {
    currentProvider: string;
    providers: { id: string; current: boolean; healthy: boolean; details: Record<string, unknown> }[];
    dataKeys: { byProvider: Record<string, { total: number }> };
    secrets: { total: number; plaintext: number; byProvider: Record<string, number> };
  };
  t.equal(s.currentProvider, 'file.default');
  t.match(s.providers, [
    { id: 'file.default', current: true, healthy: true, details: { key_path: b.key, mode: '0600' } },
  ]);
  t.equal(s.dataKeys.byProvider['file.default']?.total, 1);
  t.same(s.secrets.byProvider, { 'file.default': 1 });
  t.equal(s.secrets.plaintext, 0);
});

t.test("status says once, in atrest's words, that Node 20 is past its end of life", async (t) => {
  const b = box();
  t.equal((await runInProcess([...b.args, 'init'])).code, 0);
  const r = await runInProcess([...b.args, 'status']);
  t.equal(r.code, 0, r.stderr);
  const warnings = r.stderr.split('\n').filter((l) => l.includes('end of life'));
  if (Number(process.versions.node.split('.')[0]) < 22) {
    t.equal(warnings.length, 1, 'one line');
    t.match(warnings[0], 'run atrest and the application on Node.js 22 or 24');
  } else t.same(warnings, [], 'nothing on Node 22 and later');
  const init = await runInProcess([...b.args, 'init']);
  t.notMatch(init.stderr, 'end of life', 'only in status');
});

t.test('status text: every count says what it counts; a quick re-encrypt prints no rate', async (t) => {
  const b = box();
  for (const name of ['a', 'b'])
    t.equal((await runInProcess([...b.args, 'secrets', 'set', name], { input: 'v' })).code, 0);
  const r = await runInProcess([...b.args, 'status']);
  t.equal(r.code, 0, r.stderr);
  const text = r.stdout.toString();
  t.match(text, /\n {2}data keys it wraps: 1 \(1 active\), encrypting 2 values\n/);
  t.match(text, /\n {2}key [0-9a-f]{16} \(current\): wraps 1 data key, encrypting 2 values\n/);
  t.match(text, /\nvalues: 2 \(2 secrets of atrest, 0 in targets\): 2 encrypted \(file\.default: 2\), 0 plaintext\n/);
  t.match(text, /\nthis status command: \d+ encrypted, \d+ decrypted, \d+ failed; data key cache/);
  const re = await runInProcess([...b.args, 'secrets-migration', 're-encrypt']);
  t.equal(re.code, 0, re.stderr);
  t.match(re.stderr, /^atrest_secrets: 2\/2 rows$/m, 'the count at the end, off a terminal');
  t.notMatch(re.stderr, /rows\/s|ETA/, 'no rate measured over milliseconds');
});
