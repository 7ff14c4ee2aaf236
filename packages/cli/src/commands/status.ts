// `status`: a block per provider with its health, key facts, data keys and key versions; values per
// provider and target; the work left for re-encrypt; a few figures. `status --check` is the probe
// for liveness and readiness scripts: one line (or JSON), exit 0 healthy, 1 degraded, 2 unusable.
import { healthExitCode, isAtrestError } from '@atrest/core';
import type { AtrestHealth, AtrestStatus, ProviderStatus, SealStatus, TargetStatus, WorkLeft } from '@atrest/core';
import type { Command } from '../command.js';
import { jsonOption, printData, tell } from '../output.js';

/**
 * Said once here rather than by a dependency on every command (the AWS SDK's
 * NodeVersionSupportWarning, which bin.ts turns off): Node 20 is past its end of life.
 */
function nodeWarning(version: string): string | undefined {
  const major = Number(version.replace(/^v/, '').split('.')[0]);
  if (major >= 22) return undefined;
  return (
    `warning: Node.js ${version} reached its end of life in April 2026, and the next versions of the AWS SDK ` +
    'need Node.js 22: run atrest and the application on Node.js 22 or 24.'
  );
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function providerBlock(p: ProviderStatus): string[] {
  const lines = [`provider ${p.id}${p.current ? ' (current)' : ''}`];
  lines.push(`  health: ${p.healthy ? 'healthy' : `UNHEALTHY: ${p.reason ?? ''}`}`);
  if (!p.healthy && !p.needed) lines.push('  not needed: no data key in use was wrapped by it');
  for (const w of p.warnings) lines.push(`  WARNING: ${w}`);
  for (const [k, v] of Object.entries(p.details)) lines.push(`  ${k}: ${v}`);
  const encrypting = `encrypting ${plural(p.values, 'value')}`;
  lines.push(`  data keys it wraps: ${p.dataKeys.total} (${p.dataKeys.active} active), ${encrypting}`);
  for (const v of p.keyVersions) {
    const what = `wraps ${plural(v.dataKeys, 'data key')}, encrypting ${plural(v.values, 'value')}`;
    lines.push(`  key ${v.keyRef}${v.current ? ' (current)' : ''}: ${what}`);
  }
  return lines;
}

function workText(w: WorkLeft): string {
  const on = `${w.onRetiredDataKeys} on retired data keys, ${w.onOtherProviders} on other providers`;
  return `${w.plaintext} plaintext, ${on}`;
}

function targetLine(t: TargetStatus): string {
  if (t.error !== undefined) return `target ${t.target}: ERROR ${t.error}`;
  const invalid = t.invalid > 0 ? `, ${t.invalid} rows not a JSON object` : '';
  const counts = `${t.rows} rows, ${t.values} values, ${t.encrypted} encrypted, ${t.plaintext} plaintext`;
  return `target ${t.target}: ${counts}${invalid}`;
}

/** Whether plaintext is refused at a place, and the plaintext there. */
function sealLine(place: string, seal: SealStatus): string {
  const since = seal.sealedAt !== undefined ? ` since ${seal.sealedAt}` : '';
  if (seal.state === 'transition') {
    const left = seal.plaintext === 0 ? 'no plaintext' : plural(seal.plaintext, 'plaintext value');
    return `  ${place}: in transition, ${left} (re-encrypt seals it once it leaves no plaintext)`;
  }
  if (seal.state === 'reopened') {
    return `  ${place}: sealed${since}, reopened by reopen_plaintext: ${plural(seal.plaintext, 'plaintext value')}`;
  }
  const refused =
    seal.plaintext === 0
      ? 'plaintext refused'
      : `${plural(seal.plaintext, 'PLAINTEXT VALUE')} REFUSED (written behind atrest: restore, or reopen_plaintext)`;
  return `  ${place}: sealed${since}, ${refused}`;
}

function figures(s: AtrestStatus): string {
  const m = s.metrics;
  const count = (op: string, outcome: string): number =>
    m.operations.find((o) => o.operation === op && o.outcome === outcome)?.count ?? 0;
  const calls = m.providerRequests.reduce((n, r) => n + r.count, 0);
  return (
    `this status command: ${count('encrypt', 'success')} encrypted, ${count('decrypt', 'success')} decrypted, ` +
    `${count('encrypt', 'failure') + count('decrypt', 'failure')} failed; data key cache ${m.cache.hits} hits, ` +
    `${m.cache.misses} miss${m.cache.misses === 1 ? '' : 'es'}; ${plural(calls, 'provider request')}`
  );
}

function formatStatus(s: AtrestStatus): string {
  const audit = s.settings.auditLog !== undefined ? `, audit_log ${s.settings.auditLog}` : '';
  const lines = [
    `app: ${s.app}`,
    `health: ${s.health.summary}`,
    `current provider: ${s.currentProvider}`,
    `settings: data_keys_cache_ttl ${s.settings.dataKeysCacheTtl}, ` +
      `health_check_interval ${s.settings.healthCheckInterval}${audit}`,
    '',
  ];
  for (const p of s.providers) lines.push(...providerBlock(p), '');
  for (const u of s.unconfiguredProviders) {
    lines.push(
      `provider ${u.id}: NOT CONFIGURED, yet ${plural(u.dataKeys, 'data key')} and ${plural(u.values, 'value')}`,
    );
    lines.push(`  need it: add it to [security] available_encryption_providers`, '');
  }
  const dropped = s.dataKeys.dropped > 0 ? `; ${s.dataKeys.dropped} dropped when encryption was turned off` : '';
  const unused =
    (s.dataKeys.unused ?? 0) > 0 ? `; ${s.dataKeys.unused} unused (secrets-migration cleanup deletes them)` : '';
  lines.push(`data keys: ${s.dataKeys.total} (${s.dataKeys.active} active)${dropped}${unused}`);
  const per = Object.entries(s.secrets.byProvider)
    .map(([p, n]) => `${p}: ${n}`)
    .join(', ');
  // The total counts atrest's own secrets and the values of the targets' columns.
  const inTargets = s.targets.reduce((n, t) => n + (t.error === undefined ? t.values : 0), 0);
  const where = `${plural(s.secrets.total - inTargets, 'secret')} of atrest, ${inTargets} in targets`;
  const encrypted = `${s.secrets.encrypted} encrypted${per ? ` (${per})` : ''}`;
  lines.push(`values: ${s.secrets.total} (${where}): ${encrypted}, ${s.secrets.plaintext} plaintext`);
  lines.push(...s.targets.map(targetLine));
  lines.push('plaintext only during a transition:', sealLine('atrest_secrets', s.secrets.seal));
  for (const t of s.targets) if (t.error === undefined) lines.push(sealLine(t.target, t.seal));
  const w = s.workLeft;
  lines.push(
    w.values === 0
      ? 'work left: none (every value is under an active data key of the current provider)'
      : `work left: ${plural(w.values, 'value')} for secrets-migration re-encrypt (${workText(w)})`,
  );
  for (const k of w.retiredDataKeys) {
    lines.push(`  retired data key ${k.id} (${k.provider}, ${k.label}): ${plural(k.values, 'value')}`);
  }
  lines.push(figures(s));
  return lines.join('\n');
}

/** `--check` when atrest cannot even open (the canary fails, the database is unreadable): unusable. */
function unusable(err: unknown): AtrestHealth {
  const problem = err instanceof Error ? err.message : String(err);
  const code = isAtrestError(err) ? `${err.code}: ` : '';
  return {
    state: 'unusable',
    summary: `unusable: ${code}${problem}`,
    problems: [problem],
    providers: [],
    checkedAt: new Date().toISOString(),
  };
}

export const statusCommand: Command = {
  path: ['status'],
  opens: 'existing',
  summary: 'providers, health, data keys, values per provider, work left; --check for probes',
  usage: 'status [--check] [--json]',
  help: [
    'Shows the health verdict, the current provider, a block per provider (health, key facts such as',
    'the key file path and fingerprint, data keys, and the key versions they need), values per',
    'provider and per registered target, and the work left for secrets-migration re-encrypt (values',
    'in plaintext, on retired data keys or on other providers). Exit 0 healthy, 1 degraded, 2 when it',
    'cannot open (a key, configuration or database error).',
    '',
    '--check: only the health probe, as one line (or JSON with --json) for liveness and readiness',
    'scripts. Exit 0 healthy; 1 degraded (a provider that data keys need is unusable, data keys of a',
    'provider that is not configured, a warning such as a well-known passphrase); 2 unusable (the',
    'current provider or the database fails). A provider no data key needs does not count.',
  ].join('\n'),
  options: {
    check: { type: 'boolean', description: 'only the health probe: one line, exit 0/1/2' },
    json: jsonOption,
  },
  async run(ctx) {
    if (ctx.flag('check')) {
      const h = await ctx.open().then((a) => a.health(), unusable);
      await printData(ctx, h, h.summary);
      return healthExitCode(h.state);
    }
    const s = await (await ctx.open()).status();
    await printData(ctx, s, formatStatus(s));
    const warning = nodeWarning(process.version);
    if (warning !== undefined) await tell(ctx, warning);
    return s.health.state === 'healthy' ? 0 : 1;
  },
};
