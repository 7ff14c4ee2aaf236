// The command table. Secret values and keys are read from stdin or a file, never from argv.
import { readFileSync } from 'node:fs';
import { AtrestError, formatConfigEntries, loadAtrestConfig } from '@atrest/core';
import type { AtrestStatus } from '@atrest/core';
import type { Command, CommandContext } from './cli.js';
import { readAll, write } from './io.js';
import { migrationCommands } from './migration-commands.js';

const json = { type: 'boolean', description: 'print JSON' } as const;
const context = { type: 'string', description: 'context bound to the value (must be the same to decrypt)' } as const;

async function out(ctx: CommandContext, text: string): Promise<void> {
  await write(ctx.io.stdout, text.endsWith('\n') ? text : `${text}\n`);
}

function formatStatus(s: AtrestStatus): string {
  const lines = [`app: ${s.app}`, `current provider: ${s.currentProvider}`, 'providers:'];
  for (const p of s.providers) {
    const facts = Object.entries(p.details)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    lines.push(
      `  ${p.id}${p.current ? ' (current)' : ''}: ${p.healthy ? 'healthy' : `UNHEALTHY: ${p.reason ?? ''}`}; data keys ${p.dataKeys.total} (${p.dataKeys.active} active)${facts ? `; ${facts}` : ''}`,
    );
  }
  for (const [id, n] of Object.entries(s.dataKeys.byProvider)) {
    if (!s.providers.some((p) => p.id === id)) lines.push(`  ${id}: NOT CONFIGURED, yet ${n.total} data keys use it`);
  }
  lines.push(
    `data keys: ${s.dataKeys.total} (${s.dataKeys.active} active)${s.dataKeys.dropped > 0 ? `; ${s.dataKeys.dropped} dropped when encryption was turned off` : ''}`,
  );
  const per = Object.entries(s.secrets.byProvider)
    .map(([p, n]) => `${p}: ${n}`)
    .join(', ');
  lines.push(
    `secrets: ${s.secrets.total} (${s.secrets.encrypted} encrypted${per ? ` — ${per}` : ''}; ${s.secrets.plaintext} plaintext)`,
  );
  for (const t of s.targets) {
    lines.push(
      t.error !== undefined
        ? `  target ${t.target}: ERROR ${t.error}`
        : `  target ${t.target}: ${t.rows} rows, ${t.values} values, ${t.encrypted} encrypted, ${t.plaintext} plaintext${t.invalid > 0 ? `, ${t.invalid} rows not a JSON object` : ''}`,
    );
  }
  return lines.join('\n');
}

async function readValue(ctx: CommandContext): Promise<Buffer> {
  const file = ctx.values['value-file'];
  if (typeof file === 'string') {
    try {
      return readFileSync(file);
    } catch (cause) {
      throw new AtrestError('ATREST_USAGE', `Cannot read --value-file ${file}: ${(cause as Error).message}`, { cause });
    }
  }
  if (ctx.io.stdin.isTTY === true) await write(ctx.io.stderr, 'Reading the value from stdin (end with Ctrl-D)...\n');
  return readAll(ctx.io.stdin);
}

type ImportLine = { name: string; value: Buffer };

function parseImport(text: string): ImportLine[] {
  const items: ImportLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').trim();
    if (line === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      throw new AtrestError(
        'ATREST_USAGE',
        `stdin line ${i + 1} is not JSON; expected {"name": ..., "value": ...} or {"name": ..., "value_base64": ...}. Nothing was imported.`,
      );
    }
    const o = obj as { name?: unknown; value?: unknown; value_base64?: unknown };
    if (
      typeof o?.name !== 'string' ||
      o.name === '' ||
      (typeof o.value === 'string') === (typeof o.value_base64 === 'string')
    ) {
      throw new AtrestError(
        'ATREST_USAGE',
        `stdin line ${i + 1} needs a "name" and exactly one of "value" (text) or "value_base64". Nothing was imported.`,
      );
    }
    if (typeof o.value_base64 === 'string' && !/^[A-Za-z0-9+/]*={0,2}$/.test(o.value_base64)) {
      throw new AtrestError('ATREST_USAGE', `stdin line ${i + 1}: "value_base64" is not base64. Nothing was imported.`);
    }
    items.push({
      name: o.name,
      value:
        typeof o.value === 'string' ? Buffer.from(o.value, 'utf8') : Buffer.from(o.value_base64 as string, 'base64'),
    });
  }
  return items;
}

export const commands: Command[] = [
  {
    path: ['init'],
    summary: "create atrest's tables and the first-boot key (idempotent)",
    usage: 'init',
    help: "Creates atrest's tables in the database and, on first boot with the file provider, the key file (0600, never overwritten). Prints the provider, key path and fingerprint. Running it again changes nothing.",
    async run(ctx) {
      const a = await ctx.open();
      const s = await a.status();
      const current = s.providers.find((p) => p.current);
      await out(
        ctx,
        [
          `database: ${String(a.config.database.path ?? '(handle)')}`,
          `provider: ${s.currentProvider}`,
          ...Object.entries(current?.details ?? {}).map(([k, v]) => `${k}: ${v}`),
        ].join('\n'),
      );
      return 0;
    },
  },
  {
    path: ['status'],
    summary: 'providers, health, data keys, secrets per provider, plaintext left',
    usage: 'status [--json]',
    help: 'Shows the current provider, every available provider with its health and key facts (key file path and fingerprint), data keys per provider, secrets per provider, and plaintext values left in registered targets. Exit 1 when a provider is unhealthy or data keys belong to a provider that is not configured.',
    options: { json },
    async run(ctx) {
      const s = await (await ctx.open()).status();
      await out(ctx, ctx.values['json'] === true ? JSON.stringify(s, null, 2) : formatStatus(s));
      // Unhealthy, or data keys of a provider that is not configured (their values cannot be read): exit 1 for monitoring.
      const orphaned = Object.keys(s.dataKeys.byProvider).some((id) => !s.providers.some((p) => p.id === id));
      return s.providers.every((p) => p.healthy) && !orphaned ? 0 : 1;
    },
  },
  {
    path: ['config', 'show'],
    summary: 'effective configuration with origins, secrets redacted',
    usage: 'config show [--json]',
    help: 'Prints every effective configuration value and where it came from (default, ini file, .env, env, flag). Passphrases, client secrets and secret access keys are redacted.',
    options: { json },
    async run(ctx) {
      const config = await loadAtrestConfig(ctx.openOptions);
      if (ctx.values['json'] === true) {
        await out(ctx, JSON.stringify(config.entries, null, 2));
      } else {
        await out(ctx, formatConfigEntries(config.entries));
      }
      return 0;
    },
  },
  {
    path: ['secrets', 'set'],
    summary: 'store a secret (value from stdin or --value-file)',
    usage: 'secrets set NAME [--value-file FILE]',
    help: 'Encrypts and stores the value under NAME, replacing any previous value. The value is read from --value-file or stdin (binary-safe), never from the command line.',
    options: { 'value-file': { type: 'string', description: 'read the value from this file' } },
    minArgs: 1,
    maxArgs: 1,
    async run(ctx) {
      const name = ctx.args[0] ?? '';
      const value = await readValue(ctx);
      const a = await ctx.open();
      await a.secrets.set(name, value);
      await write(ctx.io.stderr, `stored ${name} (${value.length} bytes)\n`);
      return 0;
    },
  },
  {
    path: ['secrets', 'get'],
    summary: "print a secret's raw bytes",
    usage: 'secrets get NAME',
    help: "Writes the secret's value, exactly as stored (raw bytes), to stdout.",
    minArgs: 1,
    maxArgs: 1,
    async run(ctx) {
      const name = ctx.args[0] ?? '';
      const value = await (await ctx.open()).secrets.get(name);
      if (value === undefined)
        throw new AtrestError('ATREST_SECRET_NOT_FOUND', `No secret named ${name}. List them with 'secrets list'.`, {
          details: { name },
        });
      await write(ctx.io.stdout, value);
      return 0;
    },
  },
  {
    path: ['secrets', 'list'],
    summary: 'list secret names',
    usage: 'secrets list [--json]',
    help: "Lists the secrets' names, sizes and whether each is encrypted; never values.",
    options: { json },
    async run(ctx) {
      const list = await (await ctx.open()).secrets.list();
      if (ctx.values['json'] === true) await out(ctx, JSON.stringify(list, null, 2));
      else if (list.length > 0)
        await out(
          ctx,
          list
            .map((s) => `${s.name}\t${s.size} bytes\t${s.encrypted ? 'encrypted' : 'PLAINTEXT'}\t${s.updatedAt}`)
            .join('\n'),
        );
      return 0;
    },
  },
  {
    path: ['secrets', 'delete'],
    summary: 'delete a secret',
    usage: 'secrets delete NAME',
    help: 'Deletes the secret NAME. Exit 1 if there is none.',
    minArgs: 1,
    maxArgs: 1,
    async run(ctx) {
      const name = ctx.args[0] ?? '';
      if (!(await (await ctx.open()).secrets.delete(name)))
        throw new AtrestError('ATREST_SECRET_NOT_FOUND', `No secret named ${name}.`, { details: { name } });
      await write(ctx.io.stderr, `deleted ${name}\n`);
      return 0;
    },
  },
  {
    path: ['secrets', 'import'],
    summary: 'store many secrets from JSON lines on stdin',
    usage: 'secrets import < secrets.jsonl',
    help: 'Reads JSON lines from stdin, each {"name": "...", "value": "text"} or {"name": "...", "value_base64": "..."}, and stores them all. Every line is checked before anything is written: a bad line imports nothing.',
    async run(ctx) {
      const items = parseImport((await readAll(ctx.io.stdin)).toString('utf8'));
      const a = await ctx.open();
      let done = 0;
      try {
        for (const it of items) {
          await a.secrets.set(it.name, it.value);
          done++;
        }
      } catch (err) {
        // Say exactly where it stopped: the first `done` lines are stored, the rest are not.
        await write(
          ctx.io.stderr,
          `imported ${done} of ${items.length} secrets; stopped at secret ${done + 1} (${items[done]?.name ?? ''})\n`,
        );
        throw err;
      }
      await write(ctx.io.stderr, `imported ${items.length} secret${items.length === 1 ? '' : 's'}\n`);
      return 0;
    },
  },
  {
    path: ['encrypt'],
    summary: 'encrypt stdin to text armor on stdout',
    usage: 'encrypt [--context C] < plaintext > ciphertext',
    help: 'Encrypts stdin (any bytes) and prints the text armor ("atrest:v1:..."). The same --context must be given to decrypt.',
    options: { context },
    async run(ctx) {
      const data = await readAll(ctx.io.stdin);
      const a = await ctx.open();
      const c = ctx.values['context'];
      await out(
        ctx,
        await a.encryptText(data, typeof c === 'string' ? { context: c, scope: 'cli' } : { scope: 'cli' }),
      );
      return 0;
    },
  },
  {
    path: ['decrypt'],
    summary: 'decrypt text armor on stdin to the raw bytes on stdout',
    usage: 'decrypt [--context C] < ciphertext > plaintext',
    help: 'Decrypts the text armor read from stdin and writes the original bytes. A changed ciphertext or another context fails with exit 1 and prints nothing.',
    options: { context },
    async run(ctx) {
      const text = (await readAll(ctx.io.stdin)).toString('utf8').trim();
      const a = await ctx.open();
      const c = ctx.values['context'];
      const value = await a.decrypt(text, typeof c === 'string' ? { context: c } : {});
      await write(ctx.io.stdout, value);
      return 0;
    },
  },
  ...migrationCommands,
];
