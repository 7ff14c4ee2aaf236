// The command line itself: help everywhere (command groups too), atrest's own messages for unknown
// commands and options, errors as JSON with --json, and exit codes from the error catalogue. Run in
// this process through runCli; one real process checks the executable's exit code.
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { memoryStreams, tempDir } from '@atrest/testkit';
import { runCli } from '../src/index.js';
import { box, jsonError, runAtrest, runInProcess } from './helpers.js';

t.test('usage: --help everywhere, unknown command and option are exit 2', async (t) => {
  for (const cmd of [
    [],
    ['init'],
    ['status'],
    ['config', 'show'],
    ['secrets', 'set'],
    ['secrets', 'get'],
    ['secrets', 'list'],
    ['secrets', 'delete'],
    ['secrets', 'import'],
    ['encrypt'],
    ['decrypt'],
    ['secrets-migration', 're-encrypt'],
    ['secrets-migration', 're-encrypt-data-keys'],
    ['secrets-migration', 'rotate-data-keys'],
    ['secrets-migration', 'cleanup'],
    ['secrets-migration', 'unlock'],
    ['exec'],
    ['rotate-encryption-key'],
  ]) {
    const r = await runInProcess([...cmd, '--help']);
    t.equal(r.code, 0, `${cmd.join(' ') || '(none)'} --help`);
    t.match(r.stdout.toString(), /^Usage: atrest/);
  }
  t.equal((await runAtrest(['frobnicate'])).code, 2, 'the executable exits with the code');
  t.equal((await runInProcess(['status', '--frob'])).code, 2);
  t.equal((await runInProcess(['secrets', 'get'])).code, 2, 'missing argument');
});

t.test('--help on a command group lists its commands', async (t) => {
  const groups: Record<string, string[]> = {
    secrets: ['set', 'get', 'list', 'delete', 'import'],
    'secrets-migration': ['re-encrypt', 're-encrypt-data-keys', 'rotate-data-keys', 'cleanup', 'unlock'],
    config: ['show'],
  };
  for (const [group, commands] of Object.entries(groups)) {
    const r = await runInProcess([group, '--help']);
    t.equal(r.code, 0, `${group} --help: exit 0 ${r.stderr}`);
    const text = r.stdout.toString();
    t.match(text, new RegExp(`^Usage: atrest ${group} <command>`), `${group}: its usage line`);
    for (const c of commands) t.match(text, new RegExp(`\\n  ${c} +\\S`), `${group} --help lists ${c}`);
    const bare = await runInProcess([group]);
    t.equal(bare.code, 2, `${group} alone is a usage error`);
    t.match(bare.stderr, `'${group}' needs a command: ${commands.join(', ')}.`);
  }
});

t.test("unknown commands and options: atrest's own message with a did-you-mean", async (t) => {
  const cases: [string[], string][] = [
    [['statsu'], "unknown command 'statsu'. Did you mean 'status'?"],
    [['secrets', 'lsit'], "unknown command 'secrets lsit'. Did you mean 'secrets list'?"],
    [
      ['secrets-migration', 'reencrypt'],
      "unknown command 'secrets-migration reencrypt'. Did you mean 'secrets-migration re-encrypt'?",
    ],
    [['status', '--jsno'], "unknown option --jsno for 'status'. Did you mean '--json'?"],
    [
      ['secrets-migration', 're-encrypt', '--dryrun'],
      "unknown option --dryrun for 'secrets-migration re-encrypt'. Did you mean '--dry-run'?",
    ],
    [['status', '--frob'], "unknown option --frob for 'status'. Run 'atrest status --help' for its options."],
    [['secrets', 'get', 'x', '--out'], '--out needs a value: --out FILE.'],
    [['status', '--json=yes'], '--json takes no value.'],
    [['secrets', 'get'], "'secrets get' was given the wrong number of arguments: it takes 1, not 0."],
    [['status', 'extra'], "'status' was given the wrong number of arguments: it takes none, not 1."],
    [['--cofig', 'app.ini', 'status'], "unknown option --cofig. Did you mean '--config'?"],
  ];
  for (const [argv, message] of cases) {
    const r = await runAtrest(argv);
    t.equal(r.code, 2, `${argv.join(' ')}: exit 2`);
    t.match(r.stderr, `error ATREST_USAGE: ${message}`, argv.join(' '));
    t.notMatch(r.stderr, /positional argument|ERR_PARSE_ARGS/, "not Node's parseArgs text");
  }
});

t.test('--json: an error is one JSON object on stderr with code and message', async (t) => {
  const usage = await runInProcess(['status', '--json', '--frob']);
  t.equal(usage.code, 2);
  t.same(usage.stderr.trimEnd().split('\n').length, 1, 'one line');
  t.match(jsonError(usage), { code: 'ATREST_USAGE', message: /^unknown option --frob/ });
  const config = await runInProcess(['--db', '/nonexistent/app.db', 'status', '--json'], {
    env: { ATREST_ENCRYPTION_SECRET_KEY: 'too-short' },
  });
  t.equal(config.code, 2, 'the exit code of the catalogue');
  t.match(jsonError(config), {
    code: 'ATREST_CONFIG_INVALID',
    message: /ATREST_ENCRYPTION_SECRET_KEY/,
    details: { key: String },
  });
  t.equal(config.stdout.length, 0, 'nothing on stdout');
  const missing = await runInProcess(['--db', join(tempDir(), 'app.db'), 'secrets', 'list', '--json', '--bogus']);
  t.match(jsonError(missing), { code: 'ATREST_USAGE' });
});

t.test('an error that is not an atrest error is ATREST_INTERNAL, exit 1, with its message', async (t) => {
  const b = box();
  // A reader that went away: stdout refuses the write with a plain error, which carries a
  // catalogue code as a plain error from a dependency might: it must not pass for atrest's own.
  const broken = () => {
    const stdout = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'ATREST_USAGE' }));
      },
    });
    stdout.on('error', () => undefined);
    return stdout;
  };
  // status reads an existing database only (issue 9 §1).
  t.equal(await runCli([...b.args, 'init'], { io: memoryStreams().io, env: {} }), 0, 'init');
  for (const json of [false, true]) {
    const m = memoryStreams();
    const code = await runCli([...b.args, 'status', ...(json ? ['--json'] : [])], {
      io: { stdin: m.io.stdin, stdout: broken(), stderr: m.io.stderr },
      env: {},
    });
    t.equal(code, 1, `exit 1, never 0 (json ${json})`);
    if (json) t.match(jsonError({ stderr: m.err() }), { code: 'ATREST_INTERNAL', message: /write EPIPE/ });
    else t.match(m.err(), /^error ATREST_INTERNAL: Internal error: Error: write EPIPE\. This is a bug in atrest/);
  }
});
