// Plain http:// endpoints: accepted on loopback only (local KMS implementations such as local-kms or
// moto listen there without TLS), refused for any other host. The loopback case talks to the
// emulator through a plain-HTTP forwarder on 127.0.0.1, so SigV4 and the protocol are real.
import { createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { rejection, startAwsKmsEmulator } from '@atrest/testkit';
import { createProvider, context } from './helpers.js';

const emulator = await startAwsKmsEmulator();
t.teardown(() => emulator.close());
const target = new URL(emulator.endpoint);

// Forwards each request unchanged (Host header included, so the signature still matches) to the emulator over TLS.
const forwarder = createServer((req, res) => {
  const up = httpsRequest(
    {
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
      ca: emulator.caPem,
      servername: 'localhost',
    },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    },
  );
  up.on('error', () => res.destroy());
  req.pipe(up);
});
await new Promise<void>((resolve) => forwarder.listen(0, '127.0.0.1', resolve));
t.teardown(() => forwarder.close());
const port = (forwarder.address() as AddressInfo).port;

t.test('http:// on loopback works end to end', async (t) => {
  const p = await createProvider(emulator, { endpoint: `http://127.0.0.1:${port}`, ca_file: '' });
  const key = new Uint8Array(32).fill(5);
  const wrapped = await p.wrapKey(key, context);
  t.equal(wrapped.keyRef, emulator.key.keyArn);
  t.same(Buffer.from(await p.unwrapKey(wrapped, context)), Buffer.from(key));
  await p.close?.();
});

t.test('http:// to any other host is refused before any request', async (t) => {
  for (const endpoint of [
    'http://kms.eu-north-1.amazonaws.com',
    'http://10.0.0.1:4566',
    'http://192.168.1.10',
    'http://127.0.0.1.example.com',
  ]) {
    const err = await rejection(createProvider(emulator, { endpoint }));
    t.match(err, { code: 'ATREST_CONFIG_INVALID' }, endpoint);
    t.match((err as Error).message, 'loopback', 'says where plain http is allowed');
  }
});
