// `secrets import`: many secrets from JSON lines on stdin, every line checked before any is stored.
import { errors } from '@atrest/core';
import type { Command } from '../command.js';
import { readAll } from '../io.js';
import { jsonOption, printData, tell } from '../output.js';
import { progressReporter } from '../progress.js';

type ImportLine = { name: string; value: Buffer };

const NOTHING_IMPORTED = 'Nothing was imported.';

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
      throw errors.usage(
        `stdin line ${i + 1} is not JSON; expected {"name": ..., "value": ...} or {"name": ..., "value_base64": ...}.`,
        NOTHING_IMPORTED,
      );
    }
    const o = obj as { name?: unknown; value?: unknown; value_base64?: unknown };
    if (
      typeof o?.name !== 'string' ||
      o.name === '' ||
      (typeof o.value === 'string') === (typeof o.value_base64 === 'string')
    ) {
      throw errors.usage(
        `stdin line ${i + 1} needs a "name" and exactly one of "value" (text) or "value_base64".`,
        NOTHING_IMPORTED,
      );
    }
    if (typeof o.value_base64 === 'string' && !/^[A-Za-z0-9+/]*={0,2}$/.test(o.value_base64)) {
      throw errors.usage(`stdin line ${i + 1}: "value_base64" is not base64.`, NOTHING_IMPORTED);
    }
    items.push({
      name: o.name,
      value:
        typeof o.value === 'string' ? Buffer.from(o.value, 'utf8') : Buffer.from(o.value_base64 as string, 'base64'),
    });
  }
  return items;
}

export const secretsImportCommand: Command = {
  path: ['secrets', 'import'],
  summary: 'store many secrets from JSON lines on stdin',
  usage: 'secrets import [--json] < secrets.jsonl',
  help: [
    'Reads JSON lines from stdin, each {"name": "...", "value": "text"} or {"name": "...",',
    '"value_base64": "..."}, and stores them all. Every line is checked before anything is written:',
    'a bad line imports nothing. Progress is shown on a terminal. --json prints {"imported": N}.',
  ].join('\n'),
  options: { json: jsonOption },
  async run(ctx) {
    const items = parseImport((await readAll(ctx.io.stdin)).toString('utf8'));
    const a = await ctx.open();
    const progress = progressReporter(ctx.io, 'secrets');
    const started = Date.now();
    let done = 0;
    try {
      for (const it of items) {
        await a.secrets.set(it.name, it.value);
        done++;
        progress.update('secrets import', done, items.length, Date.now() - started);
      }
    } catch (err) {
      progress.finish();
      // Say exactly where it stopped: the first `done` lines are stored, the rest are not.
      await tell(
        ctx,
        `imported ${done} of ${items.length} secrets; stopped at secret ${done + 1} (${items[done]?.name ?? ''})`,
      );
      throw err;
    }
    progress.finish();
    const text = `imported ${items.length} secret${items.length === 1 ? '' : 's'}`;
    if (ctx.json) await printData(ctx, { imported: items.length }, text);
    else await tell(ctx, text);
    return 0;
  },
};
