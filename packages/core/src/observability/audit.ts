// The audit trail of key use (docs/OBSERVABILITY.md): every key-management event as one structured
// record, given to the application's `onAudit` hook and appended to the JSON-lines file
// `[security.encryption] audit_log`. The file is opened O_APPEND and created 0600; each record is
// one write(2) of one line, made before the operation returns, so a SIGKILL leaves whole lines only.
// A record never holds a value, a key or a passphrase: only names, ids, key references and counts.
import { closeSync, fchmodSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { hostname } from 'node:os';
import { errors } from '../errors.js';
import type { Logger } from '../logger.js';
import type { DataKeyRecord } from '../store/types.js';

/** What happened (docs/OBSERVABILITY.md lists each with its fields). */
export type AuditEventName =
  | 'data_key.created'
  | 'data_key.rewrapped'
  | 'data_key.retired'
  | 'data_key.deleted'
  | 'provider_key.rotated'
  | 'provider_key.pruned'
  | 'provider.changed'
  | 'migration.started'
  | 'migration.finished'
  | 'migration.failed'
  | 'encryption.disabled'
  | 'secret.read';

/** One audit record, as the hook receives it and as one line of the file holds it. */
export type AuditEvent = {
  /** ISO-8601 UTC. */
  time: string;
  event: AuditEventName;
  outcome: 'success' | 'failure';
  host: string;
  pid: number;
  /** Who asked, as the application (or the CLI: `cli:<user>`) named it at openAtrest. */
  actor?: string;
  provider?: string;
  dataKeyId?: string;
  /** A provider's key reference: a key-file fingerprint, a KMS key ARN, an Azure key version. */
  keyRef?: string;
  /** The command of a migration event (`secrets-migration re-encrypt`, …). */
  command?: string;
  /** The secret read (`secret.read`), by name. */
  secret?: string;
  /** The error code of a failure. */
  code?: string;
  /** Counts and other facts of the event (rows done, data keys re-wrapped, the previous provider…). */
  details?: Readonly<Record<string, string | number | boolean>>;
};

/** What a caller gives; time, host, pid and actor are filled in. */
export type AuditInput = Omit<AuditEvent, 'time' | 'host' | 'pid' | 'actor' | 'outcome'> & {
  outcome?: AuditEvent['outcome'];
};

/** Where audit records go: the hook, the file, or nowhere (then `emit` costs nothing). */
export class Auditor {
  private fd: number | undefined;
  private readonly host = hostname();

  constructor(
    private readonly options: {
      file: string | undefined;
      hook: ((event: AuditEvent) => void) | undefined;
      actor: string | undefined;
      logger: Logger;
    },
  ) {
    if (options.file !== undefined) this.fd = openAuditFile(options.file);
  }

  get enabled(): boolean {
    return this.fd !== undefined || this.options.hook !== undefined;
  }

  emit(input: AuditInput): void {
    if (!this.enabled) return;
    const { event: name, outcome = 'success', ...facts } = input;
    const event: AuditEvent = {
      time: new Date().toISOString(),
      event: name,
      outcome,
      host: this.host,
      pid: process.pid,
      ...(this.options.actor !== undefined ? { actor: this.options.actor } : {}),
      ...facts,
    };
    if (this.fd !== undefined) {
      try {
        writeSync(this.fd, `${JSON.stringify(event)}\n`);
      } catch (err) {
        // The operation is done; losing its record is said loudly, and not hidden as its failure.
        this.options.logger.error('atrest: the audit record could not be written', {
          file: this.options.file,
          event: event.event,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
    try {
      this.options.hook?.(event);
    } catch (err) {
      this.options.logger.error('atrest: the onAudit hook threw', {
        event: event.event,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** The data key events of a command: what changed between two listings of the data keys (new ones aside). */
  emitDataKeyChanges(before: readonly DataKeyRecord[], after: readonly DataKeyRecord[], command: string): void {
    if (!this.enabled) return;
    const was = new Map(before.map((k) => [k.id, k]));
    for (const k of after) {
      const old = was.get(k.id);
      const facts = { provider: k.provider, dataKeyId: k.id, keyRef: k.keyRef, command };
      // A new data key was audited as it was made (the envelope's data_key.created).
      if (old === undefined) continue;
      if (!Buffer.from(old.wrapped).equals(Buffer.from(k.wrapped))) {
        this.emit({ event: 'data_key.rewrapped', ...facts, details: { previousKeyRef: old.keyRef } });
      }
      if (old.active && !k.active) this.emit({ event: 'data_key.retired', ...facts });
      if (old.droppedAt === null && k.droppedAt !== null) this.emit({ event: 'data_key.deleted', ...facts });
    }
    const still = new Set(after.map((k) => k.id));
    for (const k of before) {
      if (!still.has(k.id)) {
        this.emit({ event: 'data_key.deleted', provider: k.provider, dataKeyId: k.id, keyRef: k.keyRef, command });
      }
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * Open the audit file for appending, created 0600 (its directory 0700 when missing); a last line
 * torn by an earlier crash (a full disk) is ended so that the next record starts a line of its own.
 */
function openAuditFile(path: string): number {
  let fd: number;
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    fd = openSync(path, 'a', 0o600);
  } catch (cause) {
    throw errors.configInvalid(
      `The audit log ${path} cannot be opened for appending (${(cause as NodeJS.ErrnoException).code ?? cause}).`,
      'Create its directory, or give the user running the application write access, or change ' +
        '[security.encryption] audit_log.',
      { cause, details: { file: path } },
    );
  }
  const st = fstatSync(fd);
  if ((st.mode & 0o077) !== 0 && st.uid === process.getuid?.()) fchmodSync(fd, 0o600);
  if (st.size > 0) {
    const last = Buffer.alloc(1);
    const reader = openSync(path, 'r');
    try {
      readSync(reader, last, 0, 1, st.size - 1);
    } finally {
      closeSync(reader);
    }
    if (last[0] !== 0x0a) writeSync(fd, '\n');
  }
  return fd;
}
