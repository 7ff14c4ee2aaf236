// Test helpers of the Vault and Google Cloud KMS emulator tests: one HTTPS request trusting only the
// emulator's CA, and the `atrest-emulator <name>` command started as a real process.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';

/** What one request got back: the status, the headers and the body parsed as JSON ({} when empty). */
export type Reply = { status: number; headers: IncomingHttpHeaders; json: Record<string, unknown> };

/** One request on a fresh connection that trusts `caPem` only; rejects on a connection error. */
export function call(
  caPem: string,
  method: string,
  url: string,
  options: { body?: string | object; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const body = typeof options.body === 'object' ? JSON.stringify(options.body) : options.body;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca: caPem, headers: options.headers ?? {}, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          json: text ? (JSON.parse(text) as Record<string, unknown>) : {},
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Start `atrest-emulator <name>`; resolves with the process and the one JSON line it printed. */
export async function startEmulatorCommand(
  name: string,
): Promise<{ child: ChildProcess; keys: Record<string, string> }> {
  const bin = fileURLToPath(new URL('../../src/emulator-bin.js', import.meta.url));
  const child = spawn(process.execPath, [bin, name, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      const end = out.indexOf('\n');
      if (end >= 0) resolve(out.slice(0, end));
    });
    child.on('exit', (code) => reject(new Error(`exited with ${String(code)} before printing`)));
  });
  return { child, keys: JSON.parse(line) as Record<string, string> };
}
