// How the AWS KMS emulator checks a request's SigV4 signature, answering as KMS does
// (MissingAuthenticationToken, IncompleteSignature, InvalidSignature, UnrecognizedClient).
import type { IncomingMessage } from 'node:http';
import type { AwsKmsCredentials } from './aws-kms-wire.js';
import { badSignature, invalidToken, KmsError } from './aws-kms-wire.js';
import {
  canonicalHeaderValue,
  computeSignature,
  parseAmzDate,
  parseAuthorization,
  signaturesMatch,
} from './aws-sigv4.js';

/** How far a request's X-Amz-Date may be from the emulator's clock, as AWS allows. */
const CLOCK_SKEW_MS = 5 * 60_000;

/** Throw the KMS error a request with this signature gets, if any. */
export function verifyKmsSignature(
  req: IncomingMessage,
  body: Buffer,
  credentials: ReadonlyMap<string, AwsKmsCredentials>,
  region: string,
): void {
  const header = req.headers.authorization;
  if (header === undefined)
    throw new KmsError('MissingAuthenticationTokenException', 400, 'Missing Authentication Token');
  const auth = parseAuthorization(header);
  if (!auth) {
    throw new KmsError(
      'IncompleteSignatureException',
      400,
      `Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. ` +
        `Authorization=${header.split(' ')[0] ?? ''}`,
    );
  }
  const known = credentials.get(auth.accessKeyId);
  if (!known) throw invalidToken();
  const token = req.headers['x-amz-security-token'];
  if (token !== known.sessionToken) throw invalidToken();
  const amzDate = canonicalHeaderValue(req.headersDistinct, 'x-amz-date');
  const signedAt = amzDate === undefined ? undefined : parseAmzDate(amzDate);
  if (amzDate === undefined || signedAt === undefined) {
    throw new KmsError(
      'IncompleteSignatureException',
      400,
      "Authorization header requires existence of a valid 'X-Amz-Date' header.",
    );
  }
  const now = Date.now();
  if (Math.abs(now - signedAt.getTime()) > CLOCK_SKEW_MS) {
    throw new KmsError(
      'InvalidSignatureException',
      400,
      `Signature expired: ${amzDate} is now earlier or later than the server time by more than 5 min.`,
    );
  }
  if (auth.date !== amzDate.slice(0, 8) || auth.terminator !== 'aws4_request') {
    throw new KmsError(
      'InvalidSignatureException',
      400,
      `Credential should be scoped to a valid date and end with aws4_request: ${auth.date}`,
    );
  }
  if (auth.region !== region)
    throw new KmsError(
      'InvalidSignatureException',
      400,
      `Credential should be scoped to a valid region, not '${auth.region}'.`,
    );
  if (auth.service !== 'kms')
    throw new KmsError('InvalidSignatureException', 400, `Credential should be scoped to correct service: 'kms'.`);
  const signed = auth.signedHeaders.map((h) => h.toLowerCase());
  if (!signed.includes('host') || !signed.includes('x-amz-date')) {
    throw new KmsError(
      'InvalidSignatureException',
      400,
      "'Host' and 'X-Amz-Date' must be SignedHeaders in the AWS Authorization.",
    );
  }
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const expected = computeSignature(
    {
      method: req.method ?? 'POST',
      path: q < 0 ? url : url.slice(0, q),
      query: q < 0 ? '' : url.slice(q + 1),
      headers: req.headersDistinct,
      body,
    },
    signed,
    known.secretAccessKey,
    amzDate,
    auth.region,
    auth.service,
  );
  if (!signaturesMatch(expected, auth.signature)) throw badSignature();
}
