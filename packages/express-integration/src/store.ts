// strongroom({ secrets, required }): a store of named Enclaves on every request
// (req.secrets) and on the app (app.locals.secrets).
//
//   secrets.get(name)       the Enclave (ERR_SECRET_NOT_FOUND when there is none)
//   secrets.use(name, fn)   fn(SecretBuffer) with the secret opened for that one call;
//                           destroyed when fn returns, or when its promise settles
//   secrets.has(name)       whether the store holds it
//
// There is no way to list the secrets or reach their bytes other than through an
// Enclave: no keys(), no iteration, and inspect/JSON/String show no name and no value.
// The store is read through a lookup fixed at start-up: a plain object is copied (own
// keys only, so a polluted prototype adds nothing), a Map or a store with a get(name)
// method (the loaders' SecretStore; an object whose `get` is an Enclave is a plain object
// holding a secret named 'get') is asked on each call, so rotation is seen at once.
import { inspect } from 'node:util';

import { isStrongroomError } from '@strongroom/core-native';
import { Enclave, type SecretBuffer, StrongroomError } from '@strongroom/enclave';
import { checkArgs, checkFunction, checkOptions, checkText, describe, invalid } from '@strongroom/core-native/validate';

/** Anything with a get(name) that gives an Enclave or undefined: a Map, or a loaders SecretStore. */
export interface SecretSource {
  get(name: string): Enclave | undefined;
}

/** Named Enclaves: a plain object, a Map, or a store with get(name). */
export type SecretsInput = Readonly<Record<string, Enclave>> | ReadonlyMap<string, Enclave> | SecretSource;

export interface StrongroomOptions {
  /** The named Enclaves. */
  secrets: SecretsInput;
  /** Names that must be there at start-up: a missing one is ERR_SECRET_NOT_FOUND from strongroom(). */
  required?: readonly string[];
}

type Lookup = (name: string) => Enclave | undefined;

function notFound(name: string): StrongroomError {
  return new StrongroomError(
    'ERR_SECRET_NOT_FOUND',
    `there is no secret named '${name}' in the store given to strongroom(); check the name, or add it to the store`,
  );
}

// The lookup of a store, and a check that every value already there is an Enclave.
function lookupOf(secrets: unknown): Lookup {
  if (secrets instanceof Map) {
    for (const [name, value] of secrets) checkEnclave(value, name);
    return (name) => checked(secrets.get(name), name);
  }
  if (typeof secrets === 'object' && secrets !== null) {
    const get = storeMethod(secrets);
    if (get !== undefined) return (name) => asked(get, secrets, name);
    const table = new Map<string, Enclave>();
    for (const name of Object.keys(secrets)) table.set(name, checkEnclave((secrets as Record<string, unknown>)[name], name));
    return (name) => table.get(name);
  }
  throw invalid(`secrets must be an object of named Enclaves, a Map, or a store with get(name); got ${describe(secrets)}`);
}

// The get() of a store: a function found on the object or its prototypes, but not one
// that a polluted Object.prototype lends to every plain object.
function storeMethod(object: object): ((name: string) => unknown) | undefined {
  for (let owner: object | null = object; owner !== null && owner !== Object.prototype; owner = Object.getPrototypeOf(owner)) {
    const descriptor = Object.getOwnPropertyDescriptor(owner, 'get');
    if (descriptor !== undefined) return typeof descriptor.value === 'function' ? (descriptor.value as (name: string) => unknown) : undefined;
  }
  return undefined;
}

function checkEnclave(value: unknown, name: string): Enclave {
  if (!(value instanceof Enclave)) {
    throw invalid(`the secret '${name}' must be an Enclave (seal a SecretBuffer with Enclave.seal()), got ${describe(value)}`);
  }
  return value;
}

function checked(value: unknown, name: string): Enclave | undefined {
  return value === undefined ? undefined : checkEnclave(value, name);
}

// A store's get(name): undefined for a name it does not hold, whether it says so by
// returning undefined (a Map) or by throwing ERR_SECRET_NOT_FOUND (the loaders' SecretStore).
function asked(get: (name: string) => unknown, store: object, name: string): Enclave | undefined {
  let value: unknown;
  try {
    value = get.call(store, name);
  } catch (error) {
    if (isStrongroomError(error) && error.code === 'ERR_SECRET_NOT_FOUND') return undefined;
    throw error;
  }
  return checked(value, name);
}

let create: (lookup: Lookup) => Secrets;

/** The named secrets of an app: get(), use() and has(), and no way to list them. */
export class Secrets {
  readonly #lookup: Lookup;

  private constructor(lookup: Lookup) {
    this.#lookup = lookup;
  }

  static {
    create = (lookup) => new Secrets(lookup);
  }

  /** The Enclave named `name`; ERR_SECRET_NOT_FOUND when the store has none. */
  get(name: string): Enclave {
    checkArgs(arguments.length, 1, 'secrets.get()');
    const enclave = this.#lookup(checkText(name, 'the name of a secret'));
    if (enclave === undefined) throw notFound(name);
    return enclave;
  }

  /** Whether the store holds a secret named `name`. */
  has(name: string): boolean {
    checkArgs(arguments.length, 1, 'secrets.has()');
    return this.#lookup(checkText(name, 'the name of a secret')) !== undefined;
  }

  /**
   * fn(secret) with the secret opened into a frozen SecretBuffer for this one call; the
   * buffer is destroyed when fn returns, or when the promise it returns settles.
   */
  use<T>(name: string, fn: (secret: SecretBuffer) => T): T {
    checkArgs(arguments.length, 2, 'secrets.use()');
    checkFunction(fn, 'the function given to secrets.use()');
    return this.get(name).use(fn);
  }


  toString(): string {
    return 'Secrets(redacted)';
  }

  toJSON(): { type: 'Secrets' } {
    return { type: 'Secrets' };
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** What strongroom() puts on each request. */
export interface SecretsRequest {
  secrets: Secrets;
  app?: { locals?: Record<string, unknown> };
}

/** The middleware strongroom() returns; `secrets` is the same object it puts on requests. */
export interface StrongroomMiddleware {
  (req: object, res: unknown, next: (error?: unknown) => void): void;
  readonly secrets: Secrets;
}

/**
 * Middleware that puts the named secrets on every request as `req.secrets` and on the app
 * as `app.locals.secrets` (from the first request on; `middleware.secrets` is there at
 * once for code that runs before any request). Names listed in `required` must be in the
 * store now: a missing one is ERR_SECRET_NOT_FOUND at start-up, not on the first request.
 */
export function strongroom(options: StrongroomOptions): StrongroomMiddleware {
  checkArgs(arguments.length, 1, 'strongroom()');
  const given = checkOptions(options, 'strongroom()', ['secrets', 'required']);
  if (given.secrets === undefined) throw invalid('strongroom() needs { secrets }: an object of named Enclaves, a Map, or a store');
  const lookup = lookupOf(given.secrets);
  if (given.required !== undefined) {
    if (!Array.isArray(given.required)) throw invalid(`required must be an array of secret names, got ${describe(given.required)}`);
    for (const name of given.required) {
      if (lookup(checkText(name, 'each name in required')) === undefined) throw notFound(name as string);
    }
  }
  const secrets = create(lookup);
  const middleware = function strongroomSecrets(req: object, _res: unknown, next: (error?: unknown) => void): void {
    (req as SecretsRequest).secrets = secrets;
    const locals = (req as SecretsRequest).app?.locals;
    if (locals !== undefined && locals.secrets !== secrets) locals.secrets = secrets;
    next();
  };
  // A null-prototype descriptor: with a polluted Object.prototype.get, a literal one would inherit it.
  const descriptor: PropertyDescriptor = Object.create(null) as PropertyDescriptor;
  descriptor.value = secrets;
  descriptor.enumerable = true;
  Object.defineProperty(middleware, 'secrets', descriptor);
  return middleware as StrongroomMiddleware;
}
