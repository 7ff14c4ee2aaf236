// An application on another provider must never load the AWS SDK: importing this package loads no
// @aws-sdk or @smithy module; only `create` does. Checked in a child process whose module loader
// refuses those packages.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const run = promisify(execFile);
const indexUrl = new URL('../src/index.js', import.meta.url).href;

const hooks = `
export async function resolve(specifier, context, nextResolve) {
  if (/^@aws-sdk\\/|^@smithy\\//.test(specifier)) {
    throw Object.assign(new Error('test loader refused ' + specifier), { code: 'ERR_REFUSED_BY_TEST' });
  }
  return nextResolve(specifier, context);
}
`;

const child = (hooksUrl: string): string => `
import { register } from 'node:module';
register(${JSON.stringify(hooksUrl)});
const out = {};
const m = await import(${JSON.stringify(indexUrl)});
out.types = m.providers.map((p) => p.type);
out.schemaKeys = Object.keys(m.providers[0].configSchema).length;
const logger = { debug() {}, info() {}, warn() {}, error() {} };
try {
  await m.providers[0].create({
    id: 'awskms.lazy', type: 'awskms', name: 'lazy', app: 'atrest', appRoot: process.cwd(), firstUse: false, logger,
    config: { key_id: 'alias/lazy', region: 'eu-north-1' },
  });
  out.create = 'resolved';
} catch (err) {
  out.create = { code: err.code, message: err.message };
}
console.log(JSON.stringify(out));
`;

t.test('importing the package loads no AWS SDK module; create() is where it is loaded', async (t) => {
  const dir = t.testdir();
  writeFileSync(join(dir, 'hooks.mjs'), hooks);
  writeFileSync(join(dir, 'child.mjs'), child(pathToFileURL(join(dir, 'hooks.mjs')).href));
  const { stdout } = await run(process.execPath, [join(dir, 'child.mjs')], {
    cwd: fileURLToPath(new URL('.', import.meta.url)),
  });
  const out = JSON.parse(stdout.trim()) as {
    types: string[];
    schemaKeys: number;
    create: { code?: string; message?: string } | string;
  };
  t.same(out.types, ['awskms'], 'the package imported and listed its provider with the SDK refused');
  t.equal(out.schemaKeys, 13, 'its schema is readable without the SDK');
  t.type(out.create, 'object', 'create() needed the SDK');
  const create = out.create as { code?: string; message?: string };
  t.equal(create.code, 'ATREST_PROVIDER_NOT_INSTALLED', 'a missing SDK is a typed error');
  t.match(
    create.message,
    new RegExp(
      String.raw`awskms\.lazy: the AWS SDK could not be loaded ` +
        String.raw`\(test loader refused @(aws-sdk\/client-kms|smithy\/node-http-handler)\)`,
    ),
    'the refused import was the SDK',
  );
  t.match(create.message, /pnpm add @atrest\/provider-awskms/, 'says how to fix it');
});
