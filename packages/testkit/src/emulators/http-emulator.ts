// The machinery every local cloud emulator shares, whatever protocol it speaks: an HTTPS server on
// loopback with a throwaway CA that can be stopped and started again (an outage), per-operation call
// counters, a fault queue, and a bounded request body reader. The protocols stay in their emulators.
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestTls } from '../tls.js';
import type { TestTls } from '../tls.js';

/**
 * What a fault does to a request it matches. The error kinds are answered in each emulator's own
 * protocol (its status codes and error bodies); `drop` and `latency` act the same everywhere.
 */
export type EmulatorFaultKind =
  /** The service's throttling error. */
  | 'throttling'
  /** The service's 500 error. */
  | 'internal-failure'
  /** The service's 503 error. */
  | 'service-unavailable'
  /** The socket is destroyed without a response. */
  | 'drop'
  /** The request waits `ms`, then is served normally. */
  | 'latency';

/** A fault to inject into an emulator whose operations are `Operation`. */
export type EmulatorFault<Operation extends string> = {
  readonly kind: EmulatorFaultKind;
  /** For `latency`: the delay in milliseconds. */
  readonly ms?: number;
  /** How many requests it hits; unset: every request until `clearFaults()`. */
  readonly times?: number;
  /** Only these operations; unset: every operation the emulator faults by default. */
  readonly operations?: readonly Operation[];
};

/** The controls every emulator offers, whatever it emulates. */
export type EmulatorControls<Counted extends string, Fault> = {
  /** The TCP port on 127.0.0.1, kept across `stop()` and `start()`. */
  readonly port: number;
  /** The CA certificate (PEM) that `ca_file` holds. */
  readonly caPem: string;
  /** Requests received per operation: a copy, taken when read. */
  readonly calls: Readonly<Record<Counted, number>>;
  resetCalls(): void;
  injectFault(fault: Fault): void;
  clearFaults(): void;
  /** Stop listening and drop open connections, keeping every key, credential, token and counter (an outage). */
  stop(): Promise<void>;
  /** Listen again on the same port after `stop()`. */
  start(): Promise<void>;
  /** Stop and remove the CA directory. */
  close(): Promise<void>;
};

/** Faults waiting for requests: the first one that matches an operation is used up by one. */
export class FaultQueue<Operation extends string, Fault extends EmulatorFault<Operation>> {
  #faults: { readonly fault: Fault; remaining: number }[] = [];
  readonly #inDefaultScope: (operation: Operation) => boolean;
  readonly #check: (fault: Fault) => void;

  /**
   * `inDefaultScope`: the operations a fault without `operations` hits (default: all).
   * `check`: throws for a fault the emulator refuses, before it is queued.
   */
  constructor(
    options: {
      readonly inDefaultScope?: (operation: Operation) => boolean;
      readonly check?: (fault: Fault) => void;
    } = {},
  ) {
    this.#inDefaultScope = options.inDefaultScope ?? (() => true);
    this.#check = options.check ?? (() => undefined);
  }

  add(fault: Fault): void {
    this.#check(fault);
    this.#faults.push({ fault, remaining: fault.times ?? Number.POSITIVE_INFINITY });
  }

  /** The first fault that matches `operation`, used up by one; undefined: serve normally. */
  take(operation: Operation): Fault | undefined {
    const active = this.#faults.find(({ fault, remaining }) => {
      if (remaining <= 0) return false;
      return fault.operations ? fault.operations.includes(operation) : this.#inDefaultScope(operation);
    });
    if (!active) return undefined;
    active.remaining -= 1;
    if (active.remaining <= 0) this.#faults = this.#faults.filter((f) => f !== active);
    return active.fault;
  }

  clear(): void {
    this.#faults = [];
  }
}

/**
 * What every protocol does alike with a fault: `drop` destroys the socket; `latency` waits `ms`
 * (default 1000) and drops the socket if the emulator closes meanwhile, so no timer outlives it.
 * True: the request is over, send nothing. False: go on, to serve it (no fault, or after the
 * latency) or to answer the fault's error in the protocol's own words.
 */
export async function dropOrDelay(
  fault: EmulatorFault<string> | undefined,
  req: IncomingMessage,
  closing: AbortSignal,
): Promise<boolean> {
  if (fault?.kind === 'drop') {
    req.socket.destroy();
    return true;
  }
  if (fault?.kind === 'latency') {
    // Its only rejection is the abort, which the check below turns into a drop.
    await sleep(fault.ms ?? 1000, undefined, { signal: closing }).catch(() => undefined);
    if (closing.aborted) {
      req.socket.destroy();
      return true;
    }
  }
  return false;
}

/** Requests received per name; reads are copies, so a test can compare before and after. */
export class CallCounter<Name extends string> {
  readonly #counts: Record<Name, number>;

  constructor(names: readonly Name[]) {
    this.#counts = Object.fromEntries(names.map((name) => [name, 0])) as Record<Name, number>;
  }

  add(name: Name): void {
    this.#counts[name] += 1;
  }

  snapshot(): Record<Name, number> {
    return { ...this.#counts };
  }

  reset(): void {
    for (const name of Object.keys(this.#counts) as Name[]) this.#counts[name] = 0;
  }
}

/** A JSON object, as requests and answers carry them. */
export type JsonObject = Record<string, unknown>;

/** Answer `payload` as JSON with `headers` (the protocol's content type and request id); no-op once answered. */
export function sendJson(
  res: ServerResponse,
  status: number,
  payload: JsonObject,
  headers: Readonly<Record<string, string>>,
): void {
  if (res.destroyed || res.writableEnded) return;
  const body = Buffer.from(JSON.stringify(payload), 'utf8');
  res.writeHead(status, { ...headers, 'content-length': body.length });
  res.end(body);
}

/** Read a request body, rejecting with `tooLarge()` (and dropping the request) past `maxBytes`. */
export function readBody(req: IncomingMessage, maxBytes: number, tooLarge: () => Error): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(tooLarge());
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export type EmulatorServerOptions = {
  /** Common name of the throwaway CA. */
  readonly caName: string;
  /** Prefix of the temporary directory that holds the CA file. */
  readonly dirPrefix: string;
  /** TCP port on 127.0.0.1; 0 (default) picks a free one. */
  readonly port?: number | undefined;
  /** Names in the server certificate (default: those of `createTestTls()`). */
  readonly certificateHosts?: readonly string[] | undefined;
  /** Serves one request. */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Answers an error `handle` threw, in the protocol's words (not called once the emulator closes). */
  answerError(err: unknown, req: IncomingMessage, res: ServerResponse): void;
};

export type EmulatorServer = {
  readonly port: number;
  /** `https://127.0.0.1:<port>`. */
  readonly origin: string;
  readonly caFile: string;
  readonly caPem: string;
  /** Aborted by `close()`: waits in request handlers end with it. */
  readonly closing: AbortSignal;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
};

/** Make a throwaway CA and serve HTTPS with it on 127.0.0.1. */
export async function startEmulatorServer(options: EmulatorServerOptions): Promise<EmulatorServer> {
  const dir = mkdtempSync(join(tmpdir(), options.dirPrefix));
  try {
    const tls = await createTestTls({
      name: options.caName,
      dir,
      ...(options.certificateHosts ? { hosts: options.certificateHosts } : {}),
    });
    return await serveHttps(dir, tls, options);
  } catch (err) {
    // Nothing listens and nobody holds the directory: leave no CA behind.
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function serveHttps(dir: string, tls: TestTls, options: EmulatorServerOptions): Promise<EmulatorServer> {
  const closing = new AbortController();
  const sockets = new Set<Socket>();
  let port = options.port ?? 0;
  let listening = false;

  const server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
    options.handle(req, res).catch((err: unknown) => {
      // Closing drops every connection anyway: an error then (an aborted wait, a torn body) answers nothing.
      if (closing.signal.aborted) req.socket.destroy();
      else options.answerError(err, req, res);
    });
  });
  // Every TCP socket, handshakes in progress included, so that stop() drops them all.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  // A client that refuses our certificate closes the handshake: that is a test passing, not an emulator error.
  server.on('tlsClientError', () => undefined);

  async function start(): Promise<void> {
    if (listening) return;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    port = (server.address() as AddressInfo).port;
    listening = true;
  }

  async function stop(): Promise<void> {
    if (!listening) return;
    listening = false;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await closed;
  }

  await start();
  return {
    port,
    origin: `https://127.0.0.1:${port}`,
    caFile: tls.caFile,
    caPem: tls.caPem,
    closing: closing.signal,
    stop,
    start,
    async close() {
      closing.abort();
      await stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The common controls of an emulator, wired to its server, counters and fault queue. */
export function emulatorControls<
  Counted extends string,
  Operation extends string,
  Fault extends EmulatorFault<Operation>,
>(
  server: EmulatorServer,
  calls: CallCounter<Counted>,
  faults: FaultQueue<Operation, Fault>,
): EmulatorControls<Counted, Fault> {
  return {
    port: server.port,
    caPem: server.caPem,
    get calls() {
      return calls.snapshot();
    },
    resetCalls: () => calls.reset(),
    injectFault: (fault) => faults.add(fault),
    clearFaults: () => faults.clear(),
    stop: server.stop,
    start: server.start,
    close: server.close,
  };
}
