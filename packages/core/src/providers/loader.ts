// Provider loading: `<type>.<name>` → npm package → validated definition. Built-in types come
// from a fixed table; any other type from `atrest-provider-<type>` or the section's `module`.
// Packages are resolved from the application's directory and imported with import(); a built-in
// package may also come from the running program's own dependencies (the atrest CLI depends on
// them). No fallback.
import type { BuiltinProvider } from '../config/types.js';
import { closest } from '../config/suggest.js';
import { errors, isAtrestError } from '../errors.js';
import { findPackage, importPackage } from '../package-import.js';
import { PROVIDER_API_VERSION } from './contract.js';
import type { ProviderDefinition } from './contract.js';

/** The built-in provider types and the package each comes from. */
export const builtinProviderPackages: Readonly<Record<string, string>> = {
  file: '@atrest/provider-file',
  secret_key: '@atrest/provider-file',
  awskms: '@atrest/provider-awskms',
  azurekv: '@atrest/provider-azurekv',
  hashicorpvault: '@atrest/provider-hashicorpvault',
  googlekms: '@atrest/provider-googlekms',
};

/**
 * The built-in package whose definitions are read before the configuration is: its providers
 * declare the shared keys and default provider rules (`sharedConfig`) the configuration needs
 * before any section names a type. The other built-in packages load only once a section needs them.
 */
const PRELOADED_PACKAGE = '@atrest/provider-file';

const NPM_NAME = /^(?:@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** The built-in type `type` is a slip of (`awskm` for `awskms`), if any. */
function nearBuiltin(type: string): string | undefined {
  const best = closest(type, Object.keys(builtinProviderPackages));
  return best !== undefined && best.distance <= 2 ? best.candidate : undefined;
}

/** The package that provides `type` (the section's `module` wins for third-party types). */
export function providerPackageName(type: string, module?: string): string {
  const name =
    module !== undefined && module !== '' ? module : (builtinProviderPackages[type] ?? `atrest-provider-${type}`);
  if (name.length > 214 || !NPM_NAME.test(name)) {
    throw errors.providerNameInvalid(
      `"${name}" is not an npm package name; provider modules are loaded by package name only (never a path or URL).`,
      "Install the provider with npm and give its package name in 'module'.",
      { details: { type, module: name } },
    );
  }
  return name;
}

function describeShape(mod: Record<string, unknown>): string {
  const names = Object.keys(mod);
  return names.length === 0
    ? 'no named exports'
    : `exports ${names.map((n) => `${n} (${Array.isArray(mod[n]) ? 'array' : typeof mod[n]})`).join(', ')}`;
}

/** Loads and caches provider definitions by type. */
export class ProviderLoader {
  private readonly loaded = new Map<string, Promise<ProviderDefinition>>();

  /** `appRoot`: the application's directory; packages resolve from its node_modules. */
  constructor(private readonly appRoot: string) {}

  /** The definition of `type`, from its package. */
  definition(type: string, module?: string): Promise<ProviderDefinition> {
    const key = `${type}\u0000${module ?? ''}`;
    let pending = this.loaded.get(key);
    if (pending === undefined) {
      pending = this.load(type, module);
      this.loaded.set(key, pending);
      pending.catch(() => this.loaded.delete(key));
    }
    return pending;
  }

  /**
   * Every built-in type, with the `sharedConfig` of those in the preloaded package. That package
   * not being installed is no error here: nothing is then configured by default, and a section or
   * id that names one of its types reports the missing package.
   */
  builtinProviders(): Promise<BuiltinProvider[]> {
    return Promise.all(
      Object.entries(builtinProviderPackages).map(async ([type, name]) => {
        if (name !== PRELOADED_PACKAGE) return { type };
        try {
          const { sharedConfig } = await this.definition(type);
          return sharedConfig === undefined ? { type } : { type, sharedConfig };
        } catch (err) {
          if (isAtrestError(err, 'ATREST_PROVIDER_NOT_INSTALLED')) return { type };
          throw err;
        }
      }),
    );
  }

  private async load(type: string, module: string | undefined): Promise<ProviderDefinition> {
    const name = providerPackageName(type, module);
    const builtin = builtinProviderPackages[type] === name;
    const meant = builtin || (module !== undefined && module !== '') ? undefined : nearBuiltin(type);
    if (meant !== undefined) {
      // Never a package by a typo's name (anyone could publish it): a third party near a built-in names its module.
      throw errors.configInvalid(
        `Unknown provider type "${type}": did you mean the built-in type "${meant}"?`,
        `Write ${meant} in the provider id and the section header ([security.encryption.${meant}.<name>]). ` +
          `A third-party provider of a type this close to a built-in one must name its package in 'module'.`,
        { details: { type, suggestion: meant } },
      );
    }
    // A third-party package resolves from the application only; a built-in one also from the
    // program's own dependencies, so that `atrest` run in any directory finds the ones it ships.
    const dir = findPackage(name, this.appRoot, builtin);
    if (dir === undefined) {
      throw errors.providerNotInstalled(
        `The provider type "${type}" needs the npm package ${name}, which is not installed in ${this.appRoot}.`,
        `Install it there: pnpm add ${name} (or npm install ${name}).`,
        { details: { type, package: name, appRoot: this.appRoot } },
      );
    }
    let mod: Record<string, unknown>;
    try {
      mod = await importPackage(dir);
    } catch (cause) {
      throw errors.providerInvalid(
        `The provider package ${name} (${dir}) failed to load: ${(cause as Error).message}`,
        'Reinstall it; if it persists, report it to its authors.',
        { cause, details: { type, package: name } },
      );
    }
    return validateDefinition(mod, type, name);
  }
}

/** Check a provider module's shape; the error lists what was expected and what was found. */
export function validateDefinition(mod: Record<string, unknown>, type: string, name: string): ProviderDefinition {
  const expected =
    'a named export "providers": an array of provider definitions ' +
    `{ apiVersion: ${PROVIDER_API_VERSION}, type: "${type}", description, configSchema, create() }`;
  const list = mod['providers'];
  if (!Array.isArray(list)) {
    throw errors.providerInvalid(
      `The package ${name} is not an atrest provider: expected ${expected}; found ${describeShape(mod)}.`,
      'Use a package made for atrest; check the type name.',
      { details: { type, package: name } },
    );
  }
  const types = list.map((d: unknown) =>
    typeof d === 'object' && d !== null ? String((d as { type?: unknown }).type) : typeof d,
  );
  const def = list.find(
    (d: unknown) => typeof d === 'object' && d !== null && (d as { type?: unknown }).type === type,
  ) as Record<string, unknown> | undefined;
  if (def === undefined) {
    throw errors.providerInvalid(
      `The package ${name} provides the types [${types.join(', ')}], not "${type}".`,
      `Check the type name, or the section's module.`,
      { details: { type, package: name, found: types } },
    );
  }
  if (def['apiVersion'] !== PROVIDER_API_VERSION) {
    throw errors.providerApiVersion(
      `The provider "${type}" in ${name} is written for provider API version ${String(def['apiVersion'])}; ` +
        `this atrest speaks version ${PROVIDER_API_VERSION}.`,
      `Install a version of ${name} made for this atrest.`,
      { details: { type, package: name, found: String(def['apiVersion']), expected: PROVIDER_API_VERSION } },
    );
  }
  const problems: string[] = [];
  if (typeof def['create'] !== 'function') problems.push(`create is ${typeof def['create']}, expected a function`);
  if (typeof def['configSchema'] !== 'object' || def['configSchema'] === null)
    problems.push(`configSchema is ${typeof def['configSchema']}, expected an object`);
  if (typeof def['description'] !== 'string')
    problems.push(`description is ${typeof def['description']}, expected a string`);
  if (problems.length > 0) {
    throw errors.providerInvalid(
      `The provider "${type}" in ${name} is malformed: ${problems.join('; ')}.`,
      "Report it to the provider's authors.",
      { details: { type, package: name } },
    );
  }
  return def as unknown as ProviderDefinition;
}
