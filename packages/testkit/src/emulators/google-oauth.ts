// Google's service-account authentication, as the Cloud KMS emulator needs it: service accounts
// with RSA keys and their credentials files (whose `token_uri` points at the emulator), the OAuth 2.0
// token endpoint's JWT-bearer grant (RFC 7523) that verifies the assertion's RS256 signature, issuer,
// audience, scope and lifetime, and the bearer check of KMS requests: an access token it issued,
// or a self-signed JWT (what Google's client libraries send by default for a service account).
import { generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** The scopes that allow Cloud KMS. */
const KMS_SCOPES = ['https://www.googleapis.com/auth/cloudkms', 'https://www.googleapis.com/auth/cloud-platform'];
/** The audience of a self-signed JWT for Cloud KMS. */
const KMS_AUDIENCE = 'https://cloudkms.googleapis.com/';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Clock skew Google tolerates on `iat` and `exp`. */
const SKEW_SECONDS = 300;

/** A service account key file, as the IAM console downloads it. */
export type ServiceAccountCredentials = {
  readonly type: 'service_account';
  readonly project_id: string;
  readonly private_key_id: string;
  readonly private_key: string;
  readonly client_email: string;
  readonly client_id: string;
  readonly auth_uri: string;
  readonly token_uri: string;
  readonly auth_provider_x509_cert_url: string;
  readonly client_x509_cert_url: string;
  readonly universe_domain: string;
};

/** An OAuth 2.0 error, answered as `{ error, error_description }` with `status`. */
export class OAuthError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string,
  ) {
    super(description);
    this.name = 'OAuthError';
  }
}

type Account = { readonly email: string; readonly keys: Map<string, KeyObject> };
type Claims = Record<string, unknown>;

function decodeJwt(jwt: string, keyOf: (email: string, kid: string | undefined) => KeyObject | undefined): Claims {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new OAuthError(400, 'invalid_grant', 'Invalid JWT: not a JWT.');
  const [h = '', p = '', s = ''] = parts;
  let header: Claims;
  let claims: Claims;
  try {
    header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Claims;
    claims = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Claims;
  } catch {
    throw new OAuthError(400, 'invalid_grant', 'Invalid JWT: the header or claims are not JSON.');
  }
  if (header['alg'] !== 'RS256') throw new OAuthError(400, 'invalid_grant', 'Invalid JWT: alg must be RS256.');
  const kid = typeof header['kid'] === 'string' ? header['kid'] : undefined;
  const key = keyOf(String(claims['iss'] ?? ''), kid);
  if (!key) throw new OAuthError(400, 'invalid_grant', 'Invalid grant: account not found');
  if (!verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'))) {
    throw new OAuthError(400, 'invalid_grant', 'Invalid JWT Signature.');
  }
  const now = Math.floor(Date.now() / 1000);
  const iat = Number(claims['iat']);
  const exp = Number(claims['exp']);
  if (!(iat <= now + SKEW_SECONDS && exp >= now - SKEW_SECONDS && exp - iat <= 3600 && exp > iat)) {
    throw new OAuthError(
      400,
      'invalid_grant',
      'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. ' +
        'Check your iat and exp values in the JWT claim.',
    );
  }
  return claims;
}

/** Service accounts, their keys and the access tokens issued to them. */
export class GoogleServiceAccounts {
  readonly #accounts = new Map<string, Account>();
  readonly #tokens = new Map<string, { readonly email: string; readonly expiresAt: number }>();

  constructor(
    private readonly projectId: string,
    private readonly tokenUri: string,
    private readonly tokenLifetimeSeconds: number,
  ) {}

  /** A new key for `email` (the account is created on first use): its credentials file contents. */
  createKey(email: string): ServiceAccountCredentials {
    const account = this.#accounts.get(email) ?? { email, keys: new Map<string, KeyObject>() };
    this.#accounts.set(email, account);
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyId = randomBytes(20).toString('hex');
    account.keys.set(keyId, publicKey);
    return {
      type: 'service_account',
      project_id: this.projectId,
      private_key_id: keyId,
      private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      client_email: email,
      client_id: String(BigInt(`0x${randomBytes(8).toString('hex')}`)),
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: this.tokenUri,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(email)}`,
      universe_domain: 'googleapis.com',
    };
  }

  /** Delete a key: assertions it signs no longer verify. */
  deleteKey(email: string, keyId: string): void {
    this.#accounts.get(email)?.keys.delete(keyId);
  }

  /** Forget every access token issued: requests carrying one are unauthenticated. */
  revokeTokens(): void {
    this.#tokens.clear();
  }

  /** The token endpoint: a form body with the JWT-bearer grant → an access token. */
  issueToken(form: URLSearchParams): Record<string, unknown> {
    if (form.get('grant_type') !== JWT_BEARER) {
      throw new OAuthError(400, 'unsupported_grant_type', `Invalid grant_type: ${form.get('grant_type') ?? ''}`);
    }
    const claims = decodeJwt(form.get('assertion') ?? '', (email, kid) => this.#publicKey(email, kid));
    if (claims['aud'] !== this.tokenUri) {
      throw new OAuthError(
        400,
        'invalid_grant',
        `Invalid JWT: Failed audience check. The expected value was ${this.tokenUri}`,
      );
    }
    const scopes = String(claims['scope'] ?? '').split(' ');
    if (!scopes.some((s) => KMS_SCOPES.includes(s))) {
      throw new OAuthError(400, 'invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    }
    const token = `ya29.emulator.${randomBytes(32).toString('base64url')}`;
    const email = String(claims['iss']);
    this.#tokens.set(token, { email, expiresAt: Date.now() + this.tokenLifetimeSeconds * 1000 });
    return { access_token: token, expires_in: this.tokenLifetimeSeconds, token_type: 'Bearer' };
  }

  /** The service account a KMS request's `Authorization: Bearer` header stands for; undefined: none. */
  bearer(header: string | undefined): string | undefined {
    const value = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
    if (value === undefined) return undefined;
    const issued = this.#tokens.get(value);
    if (issued) return issued.expiresAt > Date.now() ? issued.email : undefined;
    if (value.split('.').length !== 3) return undefined;
    try {
      const claims = decodeJwt(value, (email, kid) => this.#publicKey(email, kid));
      const scopes = String(claims['scope'] ?? '').split(' ');
      const forKms = claims['aud'] === KMS_AUDIENCE || scopes.some((s) => KMS_SCOPES.includes(s));
      return forKms && claims['sub'] === claims['iss'] ? String(claims['iss']) : undefined;
    } catch {
      return undefined;
    }
  }

  #publicKey(email: string, kid: string | undefined): KeyObject | undefined {
    const keys = this.#accounts.get(email)?.keys;
    if (!keys) return undefined;
    // Without a `kid`, any of the account's keys may have signed (Google tries them all).
    if (kid !== undefined) return keys.get(kid);
    return keys.size === 1 ? [...keys.values()][0] : undefined;
  }
}
