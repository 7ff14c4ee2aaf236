// AWS Signature Version 4 (header form, AWS4-HMAC-SHA256): the canonical request, the string to
// sign and the HMAC chain, shared by the emulators' verifier and by tests that sign raw requests.
// Spec: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';

/** An HTTP request as SigV4 sees it. Header names in any case; a repeated header as an array. */
export type SigV4Request = {
  readonly method: string;
  /** Path without the query string, as sent on the wire (already percent-encoded). */
  readonly path: string;
  /** The raw query string, without `?` (may be empty). */
  readonly query: string;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  readonly body: Uint8Array | string;
};

/** Credentials that sign or verify a request. */
export type SigV4Credentials = {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
};

/** The parts of an `Authorization: AWS4-HMAC-SHA256 …` header. */
export type SigV4Authorization = {
  readonly accessKeyId: string;
  /** `YYYYMMDD` of the credential scope. */
  readonly date: string;
  readonly region: string;
  readonly service: string;
  readonly terminator: string;
  readonly signedHeaders: readonly string[];
  readonly signature: string;
};

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: Uint8Array | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

/** RFC 3986 encoding as SigV4 wants it: everything but unreserved characters, upper-case hex. */
export function awsUriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function headerValues(headers: SigV4Request['headers'], name: string): string[] | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() !== name || value === undefined) continue;
    return typeof value === 'string' ? [value] : [...value];
  }
  return undefined;
}

/** A header's canonical value: each value trimmed, runs of spaces collapsed, repeats joined by commas. */
export function canonicalHeaderValue(headers: SigV4Request['headers'], name: string): string | undefined {
  const values = headerValues(headers, name.toLowerCase());
  return values
    ?.map((v) =>
      v
        .replace(/[\r\n]/g, ' ')
        .replace(/[ \t]+/g, ' ')
        .trim(),
    )
    .join(',');
}

/** Path normalised (`.`/`..`/empty segments removed) then encoded again, as for every service but S3. */
function canonicalPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  const normalised = `/${segments.join('/')}${trailing}`;
  return awsUriEncode(normalised).replace(/%2F/g, '/');
}

/** Query parameters decoded then re-encoded, sorted by name then value. */
function canonicalQuery(query: string): string {
  if (query === '') return '';
  const pairs = query
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const name = decodeURIComponent((eq < 0 ? p : p.slice(0, eq)).replace(/\+/g, ' '));
      const value = eq < 0 ? '' : decodeURIComponent(p.slice(eq + 1).replace(/\+/g, ' '));
      return [awsUriEncode(name), awsUriEncode(value)] as const;
    })
    .filter(([name]) => name.toLowerCase() !== 'x-amz-signature');
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join('&');
}

/** The canonical request over `signedHeaders` (lower case, any order). */
export function canonicalRequest(request: SigV4Request, signedHeaders: readonly string[]): string {
  const names = [...new Set(signedHeaders.map((h) => h.toLowerCase()))].sort();
  const headerLines = names.map((name) => `${name}:${canonicalHeaderValue(request.headers, name) ?? ''}\n`).join('');
  return [
    request.method.toUpperCase(),
    canonicalPath(request.path),
    canonicalQuery(request.query),
    headerLines,
    names.join(';'),
    sha256Hex(request.body),
  ].join('\n');
}

export function stringToSign(amzDate: string, scope: string, canonical: string): string {
  return [SIGV4_ALGORITHM, amzDate, scope, sha256Hex(canonical)].join('\n');
}

/** kSigning = HMAC chain over date, region, service and `aws4_request`, seeded with `AWS4` + secret. */
export function signingKey(secretAccessKey: string, date: string, region: string, service: string): Buffer {
  const kDate = hmac(`AWS4${secretAccessKey}`, date);
  const kRegion = hmac(kDate, region);
  const kService = hmac(kRegion, service);
  return hmac(kService, 'aws4_request');
}

/** The hex signature of `request` for the given scope. */
export function computeSignature(
  request: SigV4Request,
  signedHeaders: readonly string[],
  secretAccessKey: string,
  amzDate: string,
  region: string,
  service: string,
): string {
  const date = amzDate.slice(0, 8);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const sts = stringToSign(amzDate, scope, canonicalRequest(request, signedHeaders));
  return createHmac('sha256', signingKey(secretAccessKey, date, region, service))
    .update(sts, 'utf8')
    .digest('hex');
}

/** Parse an Authorization header; undefined when it is not a well-formed AWS4-HMAC-SHA256 header. */
export function parseAuthorization(header: string): SigV4Authorization | undefined {
  const trimmed = header.trim();
  if (!trimmed.startsWith(`${SIGV4_ALGORITHM} `)) return undefined;
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(SIGV4_ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return undefined;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined) return undefined;
  // The access key id never contains '/', so the scope is the last four parts.
  const parts = credential.split('/');
  if (parts.length < 5) return undefined;
  const [terminator, service, region, date] = parts.splice(-4).reverse() as [string, string, string, string];
  return {
    accessKeyId: parts.join('/'),
    date,
    region,
    service,
    terminator,
    signedHeaders: signedHeaders.split(';').filter((h) => h !== ''),
    signature,
  };
}

/** `YYYYMMDDTHHMMSSZ` of a date. */
export function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
}

/** Parse `YYYYMMDDTHHMMSSZ`; undefined when malformed. */
export function parseAmzDate(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s)));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** Constant-time comparison of two hex signatures. */
export function signaturesMatch(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Sign `request` in place of a client SDK: returns the headers to add (`x-amz-date`,
 * `x-amz-security-token` when a session token is given, `authorization`). Every header already in
 * `request.headers` is signed; `host` must be among them.
 */
export function signRequest(
  request: SigV4Request,
  credentials: SigV4Credentials,
  region: string,
  service: string,
  now: Date = new Date(),
): Record<string, string> {
  const date = amzDate(now);
  const added: Record<string, string> = { 'x-amz-date': date };
  if (credentials.sessionToken !== undefined) added['x-amz-security-token'] = credentials.sessionToken;
  const headers = { ...request.headers, ...added };
  const signed = Object.keys(headers).map((h) => h.toLowerCase());
  const signature = computeSignature(
    { ...request, headers },
    signed,
    credentials.secretAccessKey,
    date,
    region,
    service,
  );
  const scope = `${date.slice(0, 8)}/${region}/${service}/aws4_request`;
  const signedHeaders = [...new Set(signed)].sort().join(';');
  added['authorization'] =
    `${SIGV4_ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, ` +
    `Signature=${signature}`;
  return added;
}
