// The command table: every command of the `atrest` CLI, and the words that group them.
import type { CommandTable } from '../arguments.js';
import { configShowCommand } from './config.js';
import { cryptCommands } from './crypt.js';
import { execCommand } from './exec.js';
import { initCommand } from './init.js';
import { rotateEncryptionKeyCommand } from './rotate-encryption-key.js';
import { secretsImportCommand } from './secrets-import.js';
import { secretsMigrationCommands } from './secrets-migration.js';
import { secretsCommands } from './secrets.js';
import { statusCommand } from './status.js';

export const commandTable: CommandTable = {
  commands: [
    initCommand,
    statusCommand,
    configShowCommand,
    ...secretsCommands,
    secretsImportCommand,
    ...cryptCommands,
    execCommand,
    ...secretsMigrationCommands,
    rotateEncryptionKeyCommand,
  ],
  groups: [
    { word: 'config', summary: "atrest's effective configuration" },
    { word: 'secrets', summary: "atrest's key/value table of secrets: values from stdin or a file, never argv" },
    { word: 'secrets-migration', summary: 'values and data keys moved onto the current provider' },
  ],
};
