// An error as the Vault emulator answers it: Vault's HTTP status and its body `{"errors":[…]}`.

/** Vault's multi-error text (hashicorp/go-multierror), as its ACL and token errors are worded. */
export function multiError(messages: readonly string[]): string {
  const n = messages.length;
  return `${n} error${n === 1 ? '' : 's'} occurred:\n${messages.map((m) => `\t* ${m}`).join('\n')}\n\n`;
}

/** Thrown by the emulator's engines and answered as `status` with `{"errors": errors}`. */
export class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly errors: readonly string[],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(errors.join('; '));
    this.name = 'VaultError';
  }
}

/** 403 for a token that is missing, expired, revoked or unknown. */
export const invalidToken = (): VaultError => new VaultError(403, [multiError(['permission denied', 'invalid token'])]);

/** 403 for a valid token whose policies do not allow the request. */
export const permissionDenied = (): VaultError => new VaultError(403, [multiError(['permission denied'])]);
