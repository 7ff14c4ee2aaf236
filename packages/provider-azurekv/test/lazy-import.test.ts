// Importing the package (and creating a provider) loads no Azure SDK: an application on another
// provider never pays for it. Checked in a child process that records every module it resolves.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t from 'tap';

const probe = fileURLToPath(new URL('./helpers/import-probe.js', import.meta.url));

type ProbeResult = { afterImport: string[]; afterCreate: string[]; afterUse: string[] };

async function runProbe(...args: string[]): Promise<ProbeResult> {
  const { stdout } = await promisify(execFile)(process.execPath, [probe, ...args], { timeout: 30_000 });
  return JSON.parse(stdout) as ProbeResult;
}

const azure = (urls: readonly string[]): string[] =>
  urls.filter((u) => u.includes('/@azure/') || u.includes('/@azure+'));

t.test('import and create load no Azure SDK', async (t) => {
  const result = await runProbe();
  t.ok(
    result.afterImport.some((u) => u.includes('/provider-azurekv/dist/src/index.js')),
    'the probe saw the package index load',
  );
  t.ok(
    result.afterImport.some((u) => u.includes('/core/')),
    'and its imports (@atrest/core)',
  );
  t.same(azure(result.afterImport), [], 'no @azure module after import');
  t.same(azure(result.afterCreate), [], 'none after creating a provider either');
});

t.test('the first use loads it (the probe can see it)', async (t) => {
  const result = await runProbe('use');
  t.ok(
    azure(result.afterUse).some((u) => u.includes('identity')),
    '@azure/identity is loaded at first use',
  );
});
