// secrets.file(name): a secret handed to a driver as a path. A private file in a private directory
// under $XDG_RUNTIME_DIR (else the temporary directory), removed on close() and at process exit.
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { openAtrest } from '@atrest/core';
import { spawnNode, tempDir } from '@atrest/testkit';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
const dir = tempDir('atrest-secret-files-');
const runtime = join(dir, 'run');
mkdirSync(runtime, { mode: 0o700 });
process.env['XDG_RUNTIME_DIR'] = runtime;
const options = {
  database: join(dir, 'app.db'),
  appRoot: repoRoot,
  env: {},
  options: { 'security.encryption.file.default.key_path': join(dir, 'app.key') },
};
const certificate = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');

t.test('a private file holding the value, under $XDG_RUNTIME_DIR, removed on close', async (t) => {
  const a = await openAtrest(options);
  await a.secrets.set('pg/root.crt', certificate);
  await a.secrets.set('keystore', Buffer.from([0, 1, 2, 255]));
  const path = await a.secrets.file('pg/root.crt');
  t.same(readFileSync(path), certificate, 'the value, byte for byte');
  t.equal(dirname(dirname(path)), runtime);
  t.match(path, /pg_root\.crt$/, 'named after the secret, a path of one component');
  t.equal(statSync(path).mode & 0o777, 0o600);
  t.equal(statSync(dirname(path)).mode & 0o777, 0o700);
  const again = await a.secrets.file('pg/root.crt');
  t.not(again, path, 'a new file each time');
  t.same(readFileSync(await a.secrets.file('keystore')), Buffer.from([0, 1, 2, 255]), 'binary-safe');
  await t.rejects(a.secrets.file('nope'), { code: 'ATREST_SECRET_NOT_FOUND' });
  await a.close();
  t.notOk(existsSync(dirname(path)), 'the directory and its files are gone');
  await t.rejects(a.secrets.file('keystore'), { code: 'ATREST_CLOSED' });
});

t.test('without a usable $XDG_RUNTIME_DIR the files go to the temporary directory; removed at exit', async (t) => {
  const script = [
    "import { openAtrest } from '@atrest/core';",
    `const a = await openAtrest(${JSON.stringify(options)});`,
    "console.log(await a.secrets.file('pg/root.crt'));",
    // No close(): the process ends with the instance open.
  ].join('\n');
  const run = await spawnNode(['--input-type=module', '-e', script], {
    cwd: join(repoRoot, 'packages/core'),
    env: { XDG_RUNTIME_DIR: join(dir, 'not-there'), TMPDIR: dir },
  }).done;
  t.equal(run.code, 0, run.stderr);
  const path = run.stdout.toString().trim();
  t.equal(dirname(dirname(path)), dir, 'the temporary directory');
  t.notOk(existsSync(dirname(path)), 'removed when the process exited');
});
