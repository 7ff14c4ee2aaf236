// The reports of the migration commands as text: per target, per data key, and what is left.
import type { DataKeysCleanup, DataKeysReport, TargetReport, VacuumOutcome } from '@atrest/core';

export function formatReports(reports: readonly TargetReport[], dryRun: boolean): string {
  const lines = [dryRun ? 'dry run: nothing was written' : ''];
  for (const r of reports) {
    lines.push(
      `${r.target}: scanned ${r.scanned} row${r.scanned === 1 ? '' : 's'}; values re-encrypted ${r.reEncrypted}, ` +
        `already current ${r.alreadyCurrent}, plaintext encrypted ${r.plaintextEncrypted}` +
        `${r.decrypted > 0 ? `, decrypted ${r.decrypted}` : ''}; rows failed ${r.failed}` +
        `${r.sealed ? '; sealed (plaintext refused)' : ''}`,
    );
    for (const f of r.failures)
      lines.push(`  failed row ${f.row}${f.field !== undefined ? ` field ${f.field}` : ''}: ${f.code} ${f.message}`);
    if (r.failed > r.failures.length) lines.push(`  … and ${r.failed - r.failures.length} more`);
  }
  const changed = reports.reduce((n, r) => n + r.reEncrypted + r.plaintextEncrypted + r.decrypted, 0);
  if (changed === 0 && reports.every((r) => r.failed === 0))
    lines.push('nothing to do: every value is already under an active data key of the current provider');
  return lines.filter((l) => l !== '').join('\n');
}

export function formatDataKeys(r: DataKeysReport): string {
  const retired = r.retired > 0 ? `, retired ${r.retired}` : '';
  const left =
    r.droppedLeft > 0
      ? `, ${r.droppedLeft} dropped with encryption off left as they were (they do not unwrap with today's keys)`
      : '';
  return [
    `data keys: ${r.total}, re-wrapped ${r.rewrapped}, unchanged ${r.unchanged}${retired}${left}, ` +
      `failed ${r.failed.length}`,
    ...r.failed.map((f) => `  failed data key ${f.id} (${f.provider}): ${f.code} ${f.message}`),
  ].join('\n');
}

export function formatCleanup(c: DataKeysCleanup, name: string): string {
  const waiting =
    c.waiting > 0
      ? `; ${c.waiting} unused but retired less than data_keys_cache_ttl ago (a running node may still use ` +
        `them): run '${name} secrets-migration cleanup' after ${c.deletableFrom ?? 'that'}`
      : '';
  const inUse = c.inUse > 0 ? `; ${c.inUse} retired but still holding values (re-encrypt moves them)` : '';
  return `unused data keys deleted: ${c.deleted}${waiting}${inUse}`;
}

/** Whether the SQLite file was rebuilt after legacy plaintext was encrypted (on stderr). */
export function formatVacuum(v: VacuumOutcome): string {
  if (v.vacuumed) return 'database file rebuilt (VACUUM): no old copy of the plaintext left in its free space';
  return `warning: database file not rebuilt, old copies of the plaintext may be left in its free space: ${v.reason}`;
}
