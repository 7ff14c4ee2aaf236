// `status`: providers and their health, data keys and secrets per provider, plaintext left.
import type { AtrestStatus } from '@atrest/core';
import type { Command } from '../command.js';
import { jsonOption, printData } from '../output.js';

function providerLine(p: AtrestStatus['providers'][number]): string {
  const facts = Object.entries(p.details)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  const health = p.healthy ? 'healthy' : `UNHEALTHY: ${p.reason ?? ''}`;
  const keys = `data keys ${p.dataKeys.total} (${p.dataKeys.active} active)`;
  return `  ${p.id}${p.current ? ' (current)' : ''}: ${health}; ${keys}${facts ? `; ${facts}` : ''}`;
}

function targetLine(t: AtrestStatus['targets'][number]): string {
  if (t.error !== undefined) return `  target ${t.target}: ERROR ${t.error}`;
  const invalid = t.invalid > 0 ? `, ${t.invalid} rows not a JSON object` : '';
  const counts = `${t.rows} rows, ${t.values} values, ${t.encrypted} encrypted, ${t.plaintext} plaintext`;
  return `  target ${t.target}: ${counts}${invalid}`;
}

function formatStatus(s: AtrestStatus): string {
  const lines = [`app: ${s.app}`, `current provider: ${s.currentProvider}`, 'providers:'];
  lines.push(...s.providers.map(providerLine));
  for (const [id, n] of Object.entries(s.dataKeys.byProvider)) {
    if (!s.providers.some((p) => p.id === id)) lines.push(`  ${id}: NOT CONFIGURED, yet ${n.total} data keys use it`);
  }
  const dropped = s.dataKeys.dropped > 0 ? `; ${s.dataKeys.dropped} dropped when encryption was turned off` : '';
  const unused =
    (s.dataKeys.unused ?? 0) > 0 ? `; ${s.dataKeys.unused} unused (secrets-migration cleanup deletes them)` : '';
  lines.push(`data keys: ${s.dataKeys.total} (${s.dataKeys.active} active)${dropped}${unused}`);
  const per = Object.entries(s.secrets.byProvider)
    .map(([p, n]) => `${p}: ${n}`)
    .join(', ');
  const encrypted = `${s.secrets.encrypted} encrypted${per ? ` — ${per}` : ''}`;
  lines.push(`secrets: ${s.secrets.total} (${encrypted}; ${s.secrets.plaintext} plaintext)`);
  lines.push(...s.targets.map(targetLine));
  return lines.join('\n');
}

export const statusCommand: Command = {
  path: ['status'],
  opens: 'existing',
  summary: 'providers, health, data keys, secrets per provider, plaintext left',
  usage: 'status [--json]',
  help: [
    'Shows the current provider, every available provider with its health and key facts (key file',
    'path and fingerprint), data keys per provider, secrets per provider, and plaintext values left',
    'in registered targets. Exit 1 when a provider is unhealthy or data keys belong to a provider',
    'that is not configured (monitoring can run it as a probe).',
  ].join('\n'),
  options: { json: jsonOption },
  async run(ctx) {
    const s = await (await ctx.open()).status();
    await printData(ctx, s, formatStatus(s));
    // Data keys of a provider that is not configured: their values cannot be read.
    const orphaned = Object.keys(s.dataKeys.byProvider).some((id) => !s.providers.some((p) => p.id === id));
    return s.providers.every((p) => p.healthy) && !orphaned ? 0 : 1;
  },
};
