// Asking for a new passphrase on a terminal: nothing is echoed, Enter ends the line, and it is
// asked twice so that a typo cannot become the only key to the data.
import { StringDecoder } from 'node:string_decoder';
import { errors } from '@atrest/core';
import type { CliIo } from './io.js';
import { write } from './io.js';

type TerminalInput = CliIo['stdin'] & { setRawMode(raw: boolean): unknown };

/** Whether stdin is a terminal atrest can read a hidden line from. */
export function isTerminal(io: CliIo): boolean {
  return io.stdin.isTTY === true && typeof (io.stdin as Partial<TerminalInput>).setRawMode === 'function';
}

/** Read one line from the terminal without echo. Backspace edits; Ctrl-C and Ctrl-D cancel. */
async function readHiddenLine(io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin as TerminalInput;
  // Raw mode: the terminal neither echoes nor edits; this function does both (without the echo).
  // Set before the prompt shows, so that nothing typed after it can be echoed.
  stdin.setRawMode(true);
  stdin.resume();
  await write(io.stderr, prompt);
  const decoder = new StringDecoder('utf8');
  return new Promise<string>((resolve, reject) => {
    let line: string[] = [];
    const end = (): void => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.setRawMode(false);
      stdin.pause();
      io.stderr.write('\n');
    };
    const cancel = (): void => {
      end();
      reject(errors.usage('The prompt was cancelled; nothing was changed.'));
    };
    const onEnd = (): void => cancel();
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : decoder.write(chunk)) {
        if (ch === '\r' || ch === '\n') {
          end();
          resolve(line.join(''));
          return;
        }
        if (ch === '\u0003' || ch === '\u0004') {
          cancel();
          return;
        }
        if (ch === '\u007f' || ch === '\b') line = line.slice(0, -1);
        else if (ch >= ' ') line.push(ch);
      }
    };
    stdin.on('data', onData);
    stdin.on('end', onEnd);
  });
}

/** Ask for a new passphrase twice on the terminal; the two must match. */
export async function askNewPassphrase(io: CliIo): Promise<string> {
  const first = await readHiddenLine(io, 'New passphrase (empty turns encryption off): ');
  const again = await readHiddenLine(io, 'Repeat the new passphrase: ');
  if (first !== again) {
    throw errors.usage('The two passphrases typed differ; nothing was changed.', 'Run the command again.');
  }
  return first;
}
