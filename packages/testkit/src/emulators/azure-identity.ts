// The Microsoft Entra ID endpoints of the Azure Key Vault emulator, as @azure/identity and MSAL
// use them: OpenID configuration, instance discovery, the client-credentials token grant (tenant,
// client id and secret checked), and the bearer tokens it issued, which the vault accepts.
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { JsonObject } from './http-emulator.js';

type TokenRecord = { readonly clientId: string; readonly audience: string; readonly expiresAt: number };

export /** An error answered the way Entra ID's token endpoint answers it (OAuth 2.0 error response). */
class IdentityError extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    readonly aadsts: number,
    message: string,
  ) {
    super(message);
  }
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Entra ID's answer to a refused token request. */
export function identityErrorBody(err: IdentityError): JsonObject {
  const ids = `Trace ID: ${randomUUID()} Correlation ID: ${randomUUID()} Timestamp: ${new Date().toISOString()}`;
  return {
    error: err.error,
    error_description: `AADSTS${err.aadsts}: ${err.message} ${ids}`,
    error_codes: [err.aadsts],
    timestamp: new Date().toISOString(),
    trace_id: randomUUID(),
    correlation_id: randomUUID(),
  };
}

/** Entra ID's answer when it is throttling or failing (an injected fault). */
export function identityFaultBody(kind: 'throttling' | 'internal-failure' | 'service-unavailable'): JsonObject {
  if (kind === 'throttling') {
    return {
      error: 'temporarily_unavailable',
      error_description: 'AADSTS50196: The server is temporarily unavailable; too many requests.',
      error_codes: [50196],
    };
  }
  if (kind === 'internal-failure') {
    return { error: 'server_error', error_description: 'AADSTS90100: An internal server error occurred.' };
  }
  return {
    error: 'temporarily_unavailable',
    error_description: 'AADSTS90033: The service is temporarily unavailable.',
  };
}

/** Who the identity endpoints know, and where they are. */
export type IdentityOptions = {
  readonly tenantId: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** Seconds an access token lives. */
  readonly tokenLifetime: number;
  /** The server's origin, known once it listens. */
  readonly origin: () => string;
  /** The resource a token must be for. */
  readonly resource: () => string;
};

/** The identity endpoints and the tokens they issued. */
export function createIdentity(options: IdentityOptions) {
  const { tenantId, clientId, clientSecret, tokenLifetime } = options;
  const tokens = new Map<string, TokenRecord>();
  const resource = options.resource;

  function checkTenant(tenant: string): void {
    if (tenant.toLowerCase() !== tenantId.toLowerCase() && tenant !== 'common' && tenant !== 'organizations') {
      throw new IdentityError(
        400,
        'invalid_request',
        90002,
        `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing ` +
          `into the correct cloud.`,
      );
    }
  }

  function openidConfiguration(tenant: string): JsonObject {
    checkTenant(tenant);
    const base = `${options.origin()}/${tenantId}`;
    return {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${base}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${options.origin()}/oidc/userinfo`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid', 'ver'],
      tenant_region_scope: null,
      cloud_instance_name: 'atrest-emulator',
    };
  }

  function instanceDiscovery(): JsonObject {
    const host = new URL(options.origin()).host;
    return {
      tenant_discovery_endpoint: `${options.origin()}/${tenantId}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    };
  }

  function issueToken(tenant: string, body: Buffer): JsonObject {
    checkTenant(tenant);
    const form = new URLSearchParams(body.toString('utf8'));
    const grant = form.get('grant_type');
    if (grant !== 'client_credentials') {
      throw new IdentityError(
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grant ?? ''}'.`,
      );
    }
    const id = form.get('client_id') ?? '';
    if (id.toLowerCase() !== clientId.toLowerCase()) {
      throw new IdentityError(
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${id}' was not found in the directory '${tenantId}'. This can ` +
          `happen if the application has not been installed by the administrator of the tenant or ` +
          `consented to by any user in the tenant.`,
      );
    }
    const secret = form.get('client_secret');
    if (secret === null) {
      throw new IdentityError(
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      );
    }
    if (!sameSecret(secret, clientSecret)) {
      throw new IdentityError(
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client ` +
          `secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
      );
    }
    // The token is scoped to the resource the challenge names (by default this server itself).
    const scopes = (form.get('scope') ?? '').split(' ').filter((s) => s.endsWith('/.default'));
    const audience = scopes[0]?.slice(0, -'/.default'.length) ?? '';
    if (scopes.length !== 1 || audience !== resource()) {
      throw new IdentityError(
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${audience || '(none)'} was not found in the tenant named ` +
          `${tenantId}. This can happen if the application has not been installed by the administrator of ` +
          `the tenant or consented to by any user in the tenant.`,
      );
    }
    const token = `atrest-emu.${randomBytes(32).toString('base64url')}`;
    tokens.set(token, { clientId, audience, expiresAt: Date.now() + tokenLifetime * 1000 });
    return { token_type: 'Bearer', expires_in: tokenLifetime, ext_expires_in: tokenLifetime, access_token: token };
  }

  /** The reason a request is not authenticated, or undefined when its token is good. */
  function authFailure(req: IncomingMessage): string | undefined {
    const header = req.headers.authorization;
    if (!header) return 'AKV10000: Request is missing a Bearer or PoP token.';
    const match = /^Bearer (\S+)$/.exec(header);
    const record = match?.[1] === undefined ? undefined : tokens.get(match[1]);
    if (!record) return 'AKV10022: Invalid token.';
    if (record.expiresAt <= Date.now()) return 'AKV10032: Token expired.';
    if (record.audience !== resource()) return 'AKV10022: Invalid audience.';
    return undefined;
  }

  return { openidConfiguration, instanceDiscovery, issueToken, authFailure, revokeTokens: () => tokens.clear() };
}
