// loadSecrets({ name: source, ... }, { refresh, required, retry }) -> SecretStore: named
// Enclaves loaded concurrently from their sources, kept fresh, served by name.
//
//   store.get(name)       the current Enclave (ERR_SECRET_NOT_FOUND when there is none)
//   store.use(name, fn)   fn(SecretBuffer) with the secret opened for that call only
//   store.version(name)   1 after the load, +1 at each rotation
//   store.on('rotate', (name, version) => ...), store.on('error', (error, name) => ...)
//   store.close()         stops refreshing and watching; get()/use() then ERR_DESTROYED
//
// The load fails as a whole when a required secret fails (every name is required unless
// `required` lists fewer): one error naming the source and the reason, never the value.
// A refresh (every `refresh` ms, or when a watched file changes) that fails keeps serving
// the last good version and emits 'error'; one that reads the same bytes (compared in
// constant time, natively) changes nothing. The store plugs into @strongroom/express's
// strongroom({ secrets: store }).
import { EventEmitter } from 'node:events';
import { inspect } from 'node:util';

import type { SecretBuffer } from '@strongroom/buffer';
import { isStrongroomError, StrongroomError } from '@strongroom/core-native';
import { checkArgs, checkFunction, checkInteger, checkOptions, checkText, describe as describeValue, invalid } from '@strongroom/core-native/validate';
import type { Enclave } from '@strongroom/enclave';

import { loadWithRetry, retryPolicy, type RetryOptions, type RetryPolicy } from './retry.js';
import { isSource, type Source } from './source.js';

export interface LoadSecretsOptions {
  /** Reload every source this often (ms); default: never (watched files still reload). */
  refresh?: number;
  /** The names that must load; default: all of them. The others may fail (an 'error' event). */
  required?: readonly string[];
  /** Retries of remote sources (backoff and deadline). */
  retry?: RetryOptions;
}

interface Entry {
  readonly source: Source;
  enclave: Enclave | undefined;
  version: number;
  /** The read under way, which a refresh() asked for meanwhile waits for. */
  reloading: Promise<void> | undefined;
  stopWatching: (() => void) | undefined;
}

function notFound(name: string): StrongroomError {
  return new StrongroomError('ERR_SECRET_NOT_FOUND', `the store holds no secret named '${name}'; check the name given to loadSecrets()`);
}

// Whether two Enclaves hold the same bytes, compared natively in constant time.
function sameSecret(a: Enclave, b: Enclave): boolean {
  if (a.size !== b.size) return false;
  const left = a.open();
  try {
    const right = b.open();
    try {
      return left.equals(right);
    } finally {
      right.destroy();
    }
  } finally {
    left.destroy();
  }
}

let create: (entries: Map<string, Entry>, policy: RetryPolicy, refresh: number | undefined) => SecretStore;
let reportOptional: (store: SecretStore, error: unknown, name: string) => void;

/** Named secrets kept fresh from their sources; see the top of this file. */
export class SecretStore extends EventEmitter<{ rotate: [name: string, version: number]; error: [error: unknown, name: string] }> {
  readonly #entries: Map<string, Entry>;
  readonly #policy: RetryPolicy;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** Aborted by close(): ends a refresh under way, retries included. */
  readonly #stop = new AbortController();

  private constructor(entries: Map<string, Entry>, policy: RetryPolicy, refresh: number | undefined) {
    super();
    this.#entries = entries;
    this.#policy = policy;
    if (refresh !== undefined) {
      this.#timer = setInterval(() => {
        for (const name of this.#entries.keys()) void this.#reload(name);
      }, refresh);
      this.#timer.unref();
    }
    for (const [name, entry] of entries) {
      entry.stopWatching = entry.source.watch?.(() => void this.#reload(name));
    }
  }

  static {
    create = (entries, policy, refresh) => new SecretStore(entries, policy, refresh);
  }

  #entry(name: unknown, fn: string): Entry & { enclave: Enclave } {
    if (this.#closed) throw new StrongroomError('ERR_DESTROYED', `${fn} after close(): the store no longer serves secrets`);
    const entry = this.#entries.get(checkText(name, 'the name of a secret'));
    if (entry === undefined || entry.enclave === undefined) throw notFound(name as string);
    return entry as Entry & { enclave: Enclave };
  }

  /** The current Enclave of `name`. */
  get(name: string): Enclave {
    checkArgs(arguments.length, 1, 'store.get()');
    return this.#entry(name, 'store.get()').enclave;
  }

  /** Whether the store holds a secret named `name` (false after close()). */
  has(name: string): boolean {
    checkArgs(arguments.length, 1, 'store.has()');
    return !this.#closed && this.#entries.get(checkText(name, 'the name of a secret'))?.enclave !== undefined;
  }

  /** 1 after the load, one more at each rotation. */
  version(name: string): number {
    checkArgs(arguments.length, 1, 'store.version()');
    return this.#entry(name, 'store.version()').version;
  }

  /** fn(secret) with the secret opened into a frozen SecretBuffer, destroyed when fn returns or its promise settles. */
  use<T>(name: string, fn: (secret: SecretBuffer) => T): T {
    checkArgs(arguments.length, 2, 'store.use()');
    checkFunction(fn, 'the function given to store.use()');
    return this.#entry(name, 'store.use()').enclave.use(fn);
  }


  /** Reads `name` from its source again now; resolves once done (a failure is an 'error' event). */
  async refresh(name: string): Promise<void> {
    checkArgs(arguments.length, 1, 'store.refresh()');
    this.#entry(name, 'store.refresh()');
    await this.#reload(name);
  }

  #reload(name: string): Promise<void> {
    const entry = this.#entries.get(name);
    if (entry === undefined || this.#closed) return Promise.resolve();
    // One read at a time per secret: a second caller waits for the one under way.
    entry.reloading ??= this.#readAgain(name, entry).finally(() => {
      entry.reloading = undefined;
    });
    return entry.reloading;
  }

  async #readAgain(name: string, entry: Entry): Promise<void> {
    try {
      const fresh = await loadWithRetry(entry.source, (signal) => entry.source.load(signal), this.#policy, this.#stop.signal);
      if (this.#closed) return;
      if (entry.enclave !== undefined && sameSecret(entry.enclave, fresh)) return;
      entry.enclave = fresh;
      entry.version++;
      this.emit('rotate', name, entry.version);
    } catch (error) {
      if (!this.#closed) this.#report(error, name); // after close(), nothing is reported
    }
  }

  #report(error: unknown, name: string): void {
    if (this.listenerCount('error') > 0) this.emit('error', error, name);
    else {
      const code = isStrongroomError(error) ? error.code : 'an unexpected error';
      process.emitWarning(`strongroom: the secret '${name}' could not be refreshed (${code}); the last good version is still served`, {
        code: 'STRONGROOM_REFRESH_FAILED',
      });
    }
  }

  static {
    reportOptional = (store, error, name) => store.#report(error, name);
  }

  /** Stops refreshing and watching; afterwards get() and use() are ERR_DESTROYED. Idempotent. */
  close(): void {
    checkArgs(arguments.length, 0, 'store.close()');
    if (this.#closed) return;
    this.#closed = true;
    this.#stop.abort(); // a refresh under way and its retries end now
    clearInterval(this.#timer);
    for (const entry of this.#entries.values()) {
      entry.stopWatching?.();
      entry.enclave = undefined;
    }
  }

  get closed(): boolean {
    return this.#closed;
  }

  override toString(): string {
    return `SecretStore(${this.#entries.size} secrets${this.#closed ? ', closed' : ''})`;
  }

  toJSON(): { type: 'SecretStore'; closed: boolean } {
    return { type: 'SecretStore', closed: this.#closed };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** Loads every source concurrently into a SecretStore; see the top of this file. */
export async function loadSecrets(sources: Readonly<Record<string, Source>>, options?: LoadSecretsOptions): Promise<SecretStore> {
  checkArgs(arguments.length, 2, 'loadSecrets()');
  if (typeof sources !== 'object' || sources === null || Array.isArray(sources)) {
    throw invalid(`loadSecrets() takes an object of named sources, e.g. { db: file('/run/secrets/db') }; got ${describeValue(sources)}`);
  }
  const given = checkOptions(options, 'loadSecrets()', ['refresh', 'required', 'retry']);
  const names = Object.keys(sources);
  if (names.length === 0) throw invalid('loadSecrets() needs at least one named source');
  for (const name of names) {
    if (!isSource(sources[name])) throw invalid(`the source of '${name}' must be made by env(), file(), systemdCredential(), ... ; got ${describeValue(sources[name])}`);
  }
  const refresh = given.refresh === undefined ? undefined : checkInteger(given.refresh, 'refresh', 1000, 2 ** 31 - 1);
  const policy = retryPolicy(given.retry);
  let required = new Set(names);
  if (given.required !== undefined) {
    if (!Array.isArray(given.required)) throw invalid('required must be an array of the names given to loadSecrets()');
    required = new Set(given.required.map((name) => checkText(name, 'each name in required')));
    for (const name of required) if (!names.includes(name)) throw invalid(`required names '${name}', which is not among the sources given`);
  }

  const results = await Promise.allSettled(names.map((name) => loadWithRetry(sources[name] as Source, (signal) => (sources[name] as Source).load(signal), policy)));
  const failures = names.flatMap((name, i) => (results[i]!.status === 'rejected' ? [{ name, error: (results[i] as PromiseRejectedResult).reason as unknown }] : []));
  const fatal = failures.filter(({ name }) => required.has(name));
  if (fatal.length > 0) {
    const [{ name, error }] = fatal as [{ name: string; error: unknown }];
    const others = fatal.length > 1 ? ` (and ${fatal.length - 1} more: ${fatal.slice(1).map((f) => `'${f.name}'`).join(', ')})` : '';
    if (isStrongroomError(error)) throw new StrongroomError(error.code, `could not load the secret '${name}': ${error.message}${others}`, { cause: error });
    throw new StrongroomError('ERR_SOURCE_UNAVAILABLE', `could not load the secret '${name}'${others}`, { cause: error });
  }
  const entries = new Map<string, Entry>();
  names.forEach((name, i) => {
    const result = results[i]!;
    entries.set(name, {
      source: sources[name] as Source,
      enclave: result.status === 'fulfilled' ? result.value : undefined,
      version: result.status === 'fulfilled' ? 1 : 0,
      reloading: undefined,
      stopWatching: undefined,
    });
  });
  const store = create(entries, policy, refresh);
  // Optional secrets that failed: reported once the caller has had the chance to listen.
  if (failures.length > 0) setImmediate(() => failures.forEach(({ name, error }) => reportOptional(store, error, name)));
  return store;
}
