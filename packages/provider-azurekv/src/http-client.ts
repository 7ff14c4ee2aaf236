// The one HTTP client behind every connection the provider makes: Key Vault, the Entra ID token
// endpoint (MSAL's requests go through @azure/identity's pipeline, which takes this client), and
// managed identity. It carries the CA bundle of `ca_file` (added to Node's roots, full verification
// kept, host name included), bounds each request in time, and reports every response and
// transport failure to an observer so errors can be named precisely even after MSAL rewraps them.
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage, RequestOptions } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { createGunzip, createInflate } from 'node:zlib';
import type { KeyClientOptions } from '@azure/keyvault-keys';
import { isTlsErrorCode } from '@atrest/core';

/** The Azure core HTTP client interface, as the SDK declares it. */
export type SdkHttpClient = NonNullable<KeyClientOptions['httpClient']>;
type SdkRequest = Parameters<SdkHttpClient['sendRequest']>[0];
type SdkResponse = Awaited<ReturnType<SdkHttpClient['sendRequest']>>;
type SdkHeaders = SdkResponse['headers'];

/** What the client saw, for error reports. */
export type TransportEvent =
  | { readonly kind: 'response'; readonly host: string; readonly status: number; readonly retryAfterMs?: number }
  | {
      readonly kind: 'error';
      readonly host: string;
      readonly code: string;
      readonly message: string;
      readonly tls: boolean;
    }
  | { readonly kind: 'timeout'; readonly host: string; readonly ms: number };

/** A transport failure, shaped like the SDK's own (`RestError` with Node's `code`) so the SDK treats it the same. */
class TransportError extends Error {
  readonly code: string;
  readonly request: SdkRequest;
  constructor(message: string, code: string, request: SdkRequest, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'RestError';
    this.code = code;
    this.request = request;
  }
}

/** Response headers with the SDK's `HttpHeaders` behaviour (case-insensitive, original case kept). */
class ResponseHeaders implements SdkHeaders {
  readonly #map = new Map<string, { name: string; value: string }>();

  constructor(raw: IncomingMessage['headers']) {
    for (const [name, value] of Object.entries(raw)) {
      const first = Array.isArray(value) ? value[0] : value;
      if (first !== undefined) this.set(name, first);
    }
  }
  get(name: string): string | undefined {
    return this.#map.get(name.toLowerCase())?.value;
  }
  has(name: string): boolean {
    return this.#map.has(name.toLowerCase());
  }
  set(name: string, value: string | number | boolean): void {
    this.#map.set(name.toLowerCase(), { name, value: String(value) });
  }
  delete(name: string): void {
    this.#map.delete(name.toLowerCase());
  }
  toJSON(options: { preserveCase?: boolean } = {}): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [key, entry] of this.#map) out[options.preserveCase ? entry.name : key] = entry.value;
    return out;
  }
  *[Symbol.iterator](): IterableIterator<[string, string]> {
    for (const [key, entry] of this.#map) yield [key, entry.value];
  }
}

export type ProviderHttpClientOptions = {
  /** Extra trusted roots (PEM), added to Node's defaults; undefined: Node's defaults only. */
  readonly ca?: readonly string[];
  /** Upper bound of one request, connect to last body byte. */
  readonly requestTimeoutMs: number;
  /** Told about every response and failure. */
  readonly observe: (event: TransportEvent) => void;
};

export type ProviderHttpClient = SdkHttpClient & {
  /** Close pooled connections. */
  destroy(): void;
};

function retryAfterMs(headers: ResponseHeaders): number | undefined {
  const ms = Number(headers.get('retry-after-ms') ?? headers.get('x-ms-retry-after-ms'));
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = headers.get('retry-after');
  if (value === undefined) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - Date.now()) : undefined;
}

function bodyOf(request: SdkRequest): Buffer | Readable | undefined {
  const body: unknown = typeof request.body === 'function' ? request.body() : request.body;
  if (body === undefined || body === null) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  if (ArrayBuffer.isView(body)) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Readable) return body;
  // Key Vault and Entra ID send JSON or form bodies only; anything else is a caller bug.
  throw new Error(`@atrest/provider-azurekv: unsupported request body type ${Object.prototype.toString.call(body)}`);
}

/** Make the client. One keep-alive agent per scheme; `destroy()` closes them. */
export function createProviderHttpClient(options: ProviderHttpClientOptions): ProviderHttpClient {
  const ca = options.ca ? [...options.ca] : undefined;
  const httpsAgent = new HttpsAgent({ keepAlive: true, ...(ca ? { ca } : {}) });
  const httpAgent = new HttpAgent({ keepAlive: true });

  async function sendRequest(request: SdkRequest): Promise<SdkResponse> {
    const url = new URL(request.url);
    const host = url.host;
    const secure = url.protocol === 'https:';
    if (!secure && !request.allowInsecureConnection) {
      throw new TransportError(`Cannot connect to ${url.origin} without TLS`, 'ERR_INSECURE_CONNECTION', request);
    }
    if (request.abortSignal?.aborted)
      throw Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' });
    const body = bodyOf(request);
    const headers = request.headers.toJSON({ preserveCase: true });
    if (Buffer.isBuffer(body) && !request.headers.has('content-length'))
      headers['Content-Length'] = String(body.length);
    const timeoutMs =
      request.timeout > 0 ? Math.min(request.timeout, options.requestTimeoutMs) : options.requestTimeoutMs;
    // A proxy agent (set by the SDK's proxy policy from HTTPS_PROXY) is kept; the CA then rides on the request.
    const proxied = request.agent !== undefined;
    const requestOptions: RequestOptions & { ca?: string[] } = {
      method: request.method,
      hostname: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      headers,
      agent: (request.agent as HttpAgent | undefined) ?? (secure ? httpsAgent : httpAgent),
      ...(secure && proxied && ca ? { ca } : {}),
    };

    return await new Promise<SdkResponse>((resolve, reject) => {
      let settled = false;
      let req: ClientRequest | undefined;
      const fail = (err: Error, event: TransportEvent): void => {
        if (settled) return;
        settled = true;
        cleanup();
        options.observe(event);
        req?.destroy();
        reject(err);
      };
      const timer = setTimeout(() => {
        fail(new TransportError(`Request to ${host} timed out after ${timeoutMs} ms`, 'ETIMEDOUT', request), {
          kind: 'timeout',
          host,
          ms: timeoutMs,
        });
      }, timeoutMs);
      const onAbort = (): void => {
        if (settled) return;
        settled = true;
        cleanup();
        req?.destroy();
        reject(Object.assign(new Error('The operation was aborted.'), { name: 'AbortError' }));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        request.abortSignal?.removeEventListener('abort', onAbort);
      };
      request.abortSignal?.addEventListener('abort', onAbort);

      const onError = (err: NodeJS.ErrnoException): void => {
        const code = err.code ?? 'REQUEST_SEND_ERROR';
        fail(new TransportError(err.message, code, request, err), {
          kind: 'error',
          host,
          code,
          message: err.message,
          tls: isTlsErrorCode(code),
        });
      };
      req = (secure ? httpsRequest : httpRequest)(requestOptions, (res) => {
        const responseHeaders = new ResponseHeaders(res.headers);
        const status = res.statusCode ?? 0;
        const encoding = responseHeaders.get('content-encoding');
        let stream: Readable = res;
        if (encoding === 'gzip') stream = res.pipe(createGunzip());
        else if (encoding === 'deflate') stream = res.pipe(createInflate());
        const response: SdkResponse = { request, status, headers: responseHeaders };
        const retryAfter = retryAfterMs(responseHeaders);
        const event: TransportEvent = {
          kind: 'response',
          host,
          status,
          ...(retryAfter === undefined ? {} : { retryAfterMs: retryAfter }),
        };
        if (
          request.streamResponseStatusCodes?.has(status) ||
          request.streamResponseStatusCodes?.has(Number.POSITIVE_INFINITY)
        ) {
          settled = true;
          cleanup();
          options.observe(event);
          response.readableStreamBody = stream;
          resolve(response);
          return;
        }
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('error', onError);
        res.on('error', onError);
        stream.on('end', () => {
          if (settled) return;
          settled = true;
          cleanup();
          options.observe(event);
          response.bodyAsText = Buffer.concat(chunks).toString('utf8');
          resolve(response);
        });
      });
      req.on('error', onError);
      if (body instanceof Readable) body.pipe(req);
      else req.end(body);
    });
  }

  return {
    sendRequest,
    destroy() {
      httpsAgent.destroy();
      httpAgent.destroy();
    },
  };
}
