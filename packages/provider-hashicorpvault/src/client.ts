// Vault's HTTP API on Node's own HTTPS stack (there is no official Node client): one JSON request
// per call, `X-Vault-Token` and `X-Vault-Namespace` set, our own agent so that `ca_file` widens
// trust for this provider only (host names are still verified), and Vault's error bodies
// (`{"errors":[…]}`) kept for errors.ts to classify.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { rootCertificates } from 'node:tls';
import type { HashicorpVaultSettings } from './config.js';

/** A non-2xx answer of Vault: its status, its `errors` and its `Retry-After`, if any. */
export class VaultHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: readonly string[],
    readonly path: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`HTTP ${status} from ${path}: ${errors.join('; ').replace(/\s+/g, ' ').trim() || '(no error text)'}`);
    this.name = 'VaultHttpError';
  }

  /** True when one of Vault's messages contains `text` (Vault words its errors as multi-errors). */
  says(text: string): boolean {
    return this.errors.some((e) => e.includes(text));
  }
}

/** One call: method, API path (under /v1/), JSON body, the token to send (if any). */
export type VaultCall = {
  readonly method: 'GET' | 'POST';
  readonly path: string;
  readonly body?: Readonly<Record<string, unknown>>;
  readonly token?: string;
  readonly signal: AbortSignal;
};

/** The parsed JSON answer of a successful call ({} for 204). */
export type VaultAnswer = {
  readonly data?: Readonly<Record<string, unknown>> | null;
  readonly auth?: Readonly<Record<string, unknown>> | null;
  readonly warnings?: readonly string[] | null;
};

const MAX_ANSWER = 1024 * 1024;

/** The transport of one provider instance. */
export type VaultClient = {
  call(call: VaultCall): Promise<VaultAnswer>;
  close(): void;
};

function retryAfter(res: IncomingMessage): number | undefined {
  const seconds = Number(res.headers['retry-after']);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

export function createVaultClient(settings: HashicorpVaultSettings): VaultClient {
  const tls = settings.url.protocol === 'https:';
  const agent = tls
    ? new HttpsAgent({
        keepAlive: true,
        ...(settings.caCertificates === undefined ? {} : { ca: [...rootCertificates, ...settings.caCertificates] }),
      })
    : new HttpAgent({ keepAlive: true });
  const send = tls ? httpsRequest : httpRequest;
  return {
    call({ method, path, body, token, signal }) {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { 'x-vault-request': 'true', accept: 'application/json' };
      if (token !== undefined) headers['x-vault-token'] = token;
      if (settings.namespace !== '') headers['x-vault-namespace'] = settings.namespace;
      if (text !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(text));
      }
      return new Promise<VaultAnswer>((resolve, reject) => {
        const req = send(new URL(`/v1/${path}`, settings.url), { method, headers, agent, signal }, (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_ANSWER) req.destroy(new Error(`the answer of ${path} is over ${MAX_ANSWER} bytes`));
            else chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            const raw = Buffer.concat(chunks).toString('utf8');
            let json: Record<string, unknown> = {};
            try {
              json = raw.trim() === '' ? {} : (JSON.parse(raw) as Record<string, unknown>);
            } catch {
              // Not JSON (a proxy's page): the status says enough.
            }
            const status = res.statusCode ?? 0;
            if (status >= 200 && status < 300) resolve(json as VaultAnswer);
            else {
              const errors = Array.isArray(json['errors']) ? json['errors'].map(String) : [raw.slice(0, 200)];
              reject(new VaultHttpError(status, errors, path, retryAfter(res)));
            }
          });
        });
        req.on('error', reject);
        req.end(text);
      });
    },
    close: () => agent.destroy(),
  };
}
