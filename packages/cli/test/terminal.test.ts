// The CLI on a real pseudo-terminal: the new passphrase prompt (no echo, asked twice, ended by
// Enter), binary values kept off the screen, and progress drawn in place.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import t from 'tap';
import { writeIn } from '@atrest/testkit';
import { atrestOnTerminal, box, runAtrest } from './helpers.js';

const OLD = 'old passphrase: correct horse battery';
const NEW = 'new passphrase: staple tortoise 2026';

async function passphraseBox() {
  const b = box();
  const set = await runAtrest(['--db', b.db, 'secrets', 'set', 'smtp'], {
    input: 'smtp password',
    env: { ATREST_ENCRYPTION_SECRET_KEY: OLD },
  });
  if (set.code !== 0) throw new Error(set.stderr);
  return b;
}

function readWith(db: string, passphrase: string) {
  return runAtrest(['--db', db, 'secrets', 'get', 'smtp'], { env: { ATREST_ENCRYPTION_SECRET_KEY: passphrase } });
}

t.test('the new passphrase prompt does not echo, asks twice, and ends on Enter', async (t) => {
  const b = await passphraseBox();
  const term = atrestOnTerminal(['--db', b.db, 'rotate-encryption-key'], {
    env: { ATREST_ENCRYPTION_SECRET_KEY: OLD },
  });
  await term.waitFor('New passphrase (empty turns encryption off): ');
  term.type(`${NEW}\r`);
  await term.waitFor('Repeat the new passphrase: ');
  // A slip corrected with Backspace, as typed: the prompt edits the line itself.
  term.type(`${NEW}x\u007f\r`);
  t.equal(await term.done, 0, term.output());
  t.notMatch(term.output(), 'staple tortoise', 'the passphrase was never shown');
  t.match(term.output(), 'Now set the new passphrase in the configuration');
  t.equal((await readWith(b.db, NEW)).stdout.toString(), 'smtp password', 'the typed passphrase opens the data');
  t.match((await readWith(b.db, OLD)).stderr, 'ATREST_WRONG_KEY', 'the old one no longer does');
});

t.test('two different passphrases typed: refused, nothing changed', async (t) => {
  const b = await passphraseBox();
  const term = atrestOnTerminal(['--db', b.db, 'rotate-encryption-key'], {
    env: { ATREST_ENCRYPTION_SECRET_KEY: OLD },
  });
  await term.waitFor('New passphrase');
  term.type(`${NEW}\r`);
  await term.waitFor('Repeat the new passphrase: ');
  term.type(`${NEW}!\r`);
  t.equal(await term.done, 2, 'a usage error');
  t.match(term.output(), 'error ATREST_USAGE: The two passphrases typed differ; nothing was changed.');
  t.notMatch(term.output(), 'staple tortoise');
  t.equal((await readWith(b.db, OLD)).stdout.toString(), 'smtp password', 'the old passphrase still opens the data');
});

t.test('Ctrl-C at the prompt cancels, nothing changed', async (t) => {
  const b = await passphraseBox();
  const term = atrestOnTerminal(['--db', b.db, 'rotate-encryption-key'], {
    env: { ATREST_ENCRYPTION_SECRET_KEY: OLD },
  });
  await term.waitFor('New passphrase');
  term.type('half typed\u0003');
  t.equal(await term.done, 2);
  t.match(term.output(), 'The prompt was cancelled; nothing was changed.');
  t.equal((await readWith(b.db, OLD)).stdout.toString(), 'smtp password');
});

t.test('secrets get keeps a binary value off the terminal unless --force, or --out', async (t) => {
  const b = box();
  const binary = Buffer.concat([
    randomBytes(64),
    Buffer.from('BINARY-MARKER'),
    Buffer.from([0, 0x1b, 0x5b, 0x32, 0x4a]),
  ]);
  writeIn(b.dir, 'keystore.p12', binary);
  await runAtrest([...b.args, 'secrets', 'set', 'keystore', '--value-file', join(b.dir, 'keystore.p12')]);
  await runAtrest([...b.args, 'secrets', 'set', 'motd'], { input: 'plain text is fine\n' });
  const refused = atrestOnTerminal([...b.args, 'secrets', 'get', 'keystore']);
  t.equal(await refused.done, 2, 'refused: exit 2');
  t.match(refused.output(), 'keystore is binary (82 bytes) and stdout is a terminal; nothing was printed.');
  t.match(refused.output(), '--out FILE');
  t.notMatch(refused.output(), 'BINARY-MARKER', 'no byte of it reached the terminal');
  const forced = atrestOnTerminal([...b.args, 'secrets', 'get', 'keystore', '--force']);
  t.equal(await forced.done, 0, '--force prints it');
  t.match(forced.output(), 'BINARY-MARKER');
  const text = atrestOnTerminal([...b.args, 'secrets', 'get', 'motd']);
  t.equal(await text.done, 0, 'text is printed');
  t.match(text.output(), 'plain text is fine');
  const piped = await runAtrest([...b.args, 'secrets', 'get', 'keystore']);
  t.ok(piped.stdout.equals(binary), 'through a pipe the bytes flow as they are');
});

t.test('re-encrypt shows its progress on a terminal, a line per target drawn in place', async (t) => {
  const b = box();
  t.equal((await runAtrest([...b.args, 'secrets', 'set', 'one'], { input: 'v' })).code, 0);
  const term = atrestOnTerminal([...b.args, 'secrets-migration', 're-encrypt']);
  t.equal(await term.done, 0, term.output());
  t.match(term.output(), '\r\u001b[Katrest_secrets: 1/1 rows', 'drawn in place, up to the total');
  t.match(term.output(), /atrest_secrets: scanned 1 row; values re-encrypted 0, already current 1/);
});

t.test('secrets import shows its progress on a terminal', async (t) => {
  const b = box();
  const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify({ name: `s-${i}`, value: `v-${i}` }));
  const input = writeIn(b.dir, 'secrets.jsonl', `${lines.join('\n')}\n`);
  const term = atrestOnTerminal([...b.args, 'secrets', 'import'], { stdinFrom: input });
  t.equal(await term.done, 0, term.output());
  t.match(term.output(), '\r\u001b[Ksecrets import: 300/300 secrets', 'a line drawn in place, up to the total');
  t.match(term.output(), 'imported 300 secrets');
  const list = await runAtrest([...b.args, 'secrets', 'list', '--json']);
  t.equal((JSON.parse(list.stdout.toString()) as unknown[]).length, 300, 'all 300 stored');
});
