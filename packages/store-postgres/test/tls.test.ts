// libpq's sslmode meanings against a real PostgreSQL with TLS: disable talks plaintext, require
// encrypts without checking (but checks the chain once a CA is given, as libpq does), verify-ca
// checks the chain only, verify-full the chain and the name. Every refusal is ATREST_TLS naming
// the host, the mode and the file; a client key readable by others is refused before connecting.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { type PostgresDatabaseKeys, openPostgres, postgresSettings } from '@atrest/store-postgres';
import { createTestTls, startPostgres, tempDir } from '@atrest/testkit';

const server = await startPostgres();
t.teardown(() => server.stop());
const scratch = tempDir('atrest-pg-tls-');
const otherCa = await createTestTls({ name: 'Some Other CA', dir: scratch });
const database = await server.createDatabase();
const password = { user: server.user, password: server.password, name: database };
const host = `127.0.0.1:${server.port}`;

/** Connect with these keys and return what the server says of the session's TLS. */
async function session(keys: PostgresDatabaseKeys): Promise<{ ssl: boolean; client_dn: string | null }> {
  const connection = await openPostgres(postgresSettings(keys));
  try {
    const { rows } = await connection.pool.query('SELECT ssl, client_dn FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0] as { ssl: boolean; client_dn: string | null };
  } finally {
    await connection.close();
  }
}

t.test('disable: no TLS', async (t) => {
  t.same(await session({ ...password, host, ssl_mode: 'disable' }), { ssl: false, client_dn: null });
});

t.test('require: encrypted, the server not checked (its CA is unknown to the client)', async (t) => {
  t.same(await session({ ...password, host, ssl_mode: 'require' }), { ssl: true, client_dn: null });
});

t.test('require with a CA is verify-ca, as in libpq: the wrong CA is refused', async (t) => {
  t.same(await session({ ...password, host, ssl_mode: 'require', ca_cert_path: server.tls.caFile }), {
    ssl: true,
    client_dn: null,
  });
  await t.rejects(session({ ...password, host, ssl_mode: 'require', ca_cert_path: otherCa.caFile }), {
    code: 'ATREST_TLS',
    message:
      `PostgreSQL server ${host} (sslmode require): its certificate is not signed by the CA file ` +
      `${otherCa.caFile}`,
  });
});

t.test('verify-ca: the chain is checked, the name is not', async (t) => {
  const keys = { ...password, host, ssl_mode: 'verify-ca', ca_cert_path: server.tls.caFile };
  t.same(await session({ ...keys, server_cert_name: 'not-the-name.example' }), { ssl: true, client_dn: null });
  await t.rejects(session({ ...keys, ca_cert_path: otherCa.caFile }), {
    code: 'ATREST_TLS',
    message: new RegExp(`^PostgreSQL server ${host} \\(sslmode verify-ca\\): its certificate is not signed by`),
    details: { host: '127.0.0.1', sslMode: 'verify-ca', file: otherCa.caFile },
  });
});

t.test('verify-full: the chain and the name (an IP address, a host name, server_cert_name)', async (t) => {
  const keys = { ...password, ssl_mode: 'verify-full', ca_cert_path: server.tls.caFile };
  t.same(await session({ ...keys, host }), { ssl: true, client_dn: null }, '127.0.0.1 is in the certificate');
  t.same(await session({ ...keys, host: `localhost:${server.port}` }), { ssl: true, client_dn: null }, 'localhost too');
  t.same(await session({ ...keys, host, server_cert_name: 'localhost' }), { ssl: true, client_dn: null });
});

t.test('verify-full refuses a wrong CA and a wrong name, naming host, mode and file', async (t) => {
  const keys = { ...password, host, ssl_mode: 'verify-full' };
  await t.rejects(session({ ...keys, ca_cert_path: otherCa.caFile }), {
    code: 'ATREST_TLS',
    message: new RegExp(
      `^PostgreSQL server ${host} \\(sslmode verify-full\\): its certificate is not signed by the CA file ` +
        `${otherCa.caFile} \\(SELF_SIGNED_CERT_IN_CHAIN\\)\\. Point \\[database\\] ca_cert_path`,
    ),
  });
  await t.rejects(session({ ...keys, ca_cert_path: server.tls.caFile, server_cert_name: 'db.example.com' }), {
    code: 'ATREST_TLS',
    message: new RegExp(
      `^PostgreSQL server ${host} \\(sslmode verify-full\\): its certificate \\(signed by a CA in the CA file ` +
        `${server.tls.caFile}\\) is not for "db.example.com".*server_cert_name`,
    ),
    details: { file: server.tls.caFile },
  });
  await t.rejects(session({ ...keys, ca_cert_path: '/nonexistent/ca.pem' }), {
    code: 'ATREST_TLS',
    message:
      `PostgreSQL server ${host} (sslmode verify-full): ` +
      'the CA certificate file /nonexistent/ca.pem cannot be read (ENOENT).',
  });
});

t.test('client certificates (mutual TLS)', async (t) => {
  const carol = await server.createCertificateUser('carol');
  const keys = {
    host,
    user: 'carol',
    name: database,
    ssl_mode: 'verify-full',
    ca_cert_path: server.tls.caFile,
    client_cert_path: carol.certFile,
    client_key_path: carol.keyFile,
  };
  const stranger = await otherCa.issueClientCertificate('carol');
  writeFileSync(join(scratch, 'stranger.crt'), stranger.certPem);
  writeFileSync(join(scratch, 'stranger.key'), stranger.keyPem, { mode: 0o600 });

  t.test('a certificate user logs in with its certificate', async (t) => {
    t.same(await session(keys), { ssl: true, client_dn: '/CN=carol' });
  });

  t.test('without a certificate the server refuses, and the error says so', async (t) => {
    await t.rejects(session({ ...keys, client_cert_path: undefined, client_key_path: undefined }), {
      code: 'ATREST_TLS',
      message: new RegExp(
        `^PostgreSQL server ${host} \\(sslmode verify-full\\): the server wants a client certificate`,
      ),
    });
  });

  t.test("a certificate of a CA the server does not trust is refused, naming the certificate's file", async (t) => {
    const cert = join(scratch, 'stranger.crt');
    await t.rejects(session({ ...keys, client_cert_path: cert, client_key_path: join(scratch, 'stranger.key') }), {
      code: 'ATREST_TLS',
      message: new RegExp(`the server refused the client certificate ${cert}`),
      details: { file: cert },
    });
  });

  t.test("another user's certificate is refused", async (t) => {
    const dave = await server.createCertificateUser('dave');
    await t.rejects(
      session({ ...keys, user: 'dave', client_cert_path: carol.certFile, client_key_path: carol.keyFile }),
      {
        code: 'ATREST_TLS',
        message: /refused user "dave" with the client certificate .*carol\.crt: the certificate is for another user/,
      },
    );
    t.same(await session({ ...keys, user: 'dave', client_cert_path: dave.certFile, client_key_path: dave.keyFile }), {
      ssl: true,
      client_dn: '/CN=dave',
    });
  });

  t.test('a client key readable by group or others is refused as libpq does, before connecting', async (t) => {
    t.teardown(() => chmodSync(carol.keyFile, 0o600));
    chmodSync(carol.keyFile, 0o644);
    await t.rejects(session(keys), {
      code: 'ATREST_TLS',
      message:
        `PostgreSQL server ${host} (sslmode verify-full): the client key ${carol.keyFile} is readable or writable ` +
        `by group or others (mode 0644). Run chmod 600 ${carol.keyFile} (0640 is allowed for a key owned by root), ` +
        'as libpq requires.',
      details: { file: carol.keyFile, mode: '0644' },
    });
    chmodSync(carol.keyFile, 0o640);
    if (process.getuid?.() === 0) {
      t.same(await session(keys), { ssl: true, client_dn: '/CN=carol' }, 'root-owned 0640 is allowed');
    } else {
      await t.rejects(session(keys), { code: 'ATREST_TLS' }, '0640 is too loose for a key not owned by root');
    }
  });

  t.test("a client key that is not the certificate's key is refused before connecting", async (t) => {
    await t.rejects(session({ ...keys, client_key_path: join(scratch, 'stranger.key') }), {
      code: 'ATREST_TLS',
      message: /\(sslmode verify-full\): the TLS files do not load .*carol\.crt, .*stranger\.key/,
    });
  });
});
