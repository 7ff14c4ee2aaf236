// Namespaces and mounts of the Vault emulator: which namespace a request addresses (the
// `X-Vault-Namespace` header, then namespace prefixes of the path, as Vault Enterprise and OpenBao
// resolve them), the transit mount a path falls in, and the path a token's policies are matched on.
import type { VaultToken } from './vault-auth.js';
import { VaultError, permissionDenied } from './vault-error.js';
import { TransitEngine } from './vault-transit.js';

/** A namespace path without its leading and trailing slashes ('' is the root namespace). */
export const trimNamespace = (ns: string): string => ns.replace(/^\/+|\/+$/g, '');

/** A path inside a transit mount. */
export type MountedPath = { readonly engine: TransitEngine; readonly rest: readonly string[] };

export class VaultNamespaces {
  readonly #mounts = new Map<string, Map<string, TransitEngine>>([['', new Map()]]);

  /** Create a namespace and its parents. */
  create(path: string): void {
    const parts = trimNamespace(path).split('/');
    for (let i = 1; i <= parts.length; i++) {
      const ns = parts.slice(0, i).join('/');
      if (!this.#mounts.has(ns)) this.#mounts.set(ns, new Map());
    }
  }

  mountTransit(path: string, namespace: string): void {
    this.#of(namespace).set(trimNamespace(path), new TransitEngine());
  }

  engine(mount: string, namespace: string): TransitEngine {
    const engine = this.#of(namespace).get(trimNamespace(mount));
    if (!engine) throw new Error(`No transit mount "${mount}" in namespace "${namespace}"`);
    return engine;
  }

  /** The namespace a request addresses and the path inside it. */
  resolve(header: string, segments: readonly string[]): { namespace: string; path: readonly string[] } {
    let namespace = trimNamespace(header);
    if (!this.#mounts.has(namespace)) throw new VaultError(404, [`namespace not found: "${namespace}/"`]);
    let path = segments;
    for (;;) {
      const next = namespace === '' ? (path[0] ?? '') : `${namespace}/${path[0] ?? ''}`;
      if (path.length < 2 || !this.#mounts.has(next)) return { namespace, path };
      namespace = next;
      path = path.slice(1);
    }
  }

  /** The transit mount `path` falls in (the longest mount path that prefixes it). */
  mounted(namespace: string, path: readonly string[]): MountedPath | undefined {
    const mounts = this.#mounts.get(namespace);
    for (let i = path.length - 1; i >= 1 && mounts; i--) {
      const engine = mounts.get(path.slice(0, i).join('/'));
      if (engine) return { engine, rest: path.slice(i) };
    }
    return undefined;
  }

  /** The path as `token`'s policies see it (relative to its namespace); denied outside it. */
  static aclPath(token: VaultToken, namespace: string, path: readonly string[]): string {
    const own = token.namespace;
    if (own !== '' && namespace !== own && !namespace.startsWith(`${own}/`)) throw permissionDenied();
    const inner = own === '' ? namespace : namespace.slice(own.length + 1);
    return [...(inner === '' ? [] : [inner]), ...path].join('/');
  }

  #of(namespace: string): Map<string, TransitEngine> {
    const mounts = this.#mounts.get(trimNamespace(namespace));
    if (!mounts) throw new Error(`No namespace "${namespace}": createNamespace() it first`);
    return mounts;
  }
}
