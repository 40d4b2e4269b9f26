// The check vocabulary of every strongroom package (noble's abytes/anumber, for us):
// each check throws ERR_INVALID_ARG with a message that names the argument, says what
// is expected and what was given (its type, never its content), so a caller knows what
// to change. Reached by the other packages as '@strongroom/core-native/validate'; no
// package writes its own. The native layer checks again (it guards memory safety on its
// own); these give the precise, friendly error first.
//
//   checkArgs(arguments.length, 2, 'seal()')            extra arguments are an error
//   checkOptions(given, 'allocate()', ALLOCATE_KEYS)  own keys only, unknown keys an error
import { StrongroomError } from './errors.js';
import type { HmacAlgorithm } from './types.js';

export function invalid(message: string): StrongroomError {
  return new StrongroomError('ERR_INVALID_ARG', message);
}

/** What a value is, for a message: its type or class, never its content. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string' && value === '') return 'an empty string';
  if (typeof value === 'object') {
    try {
      const name: unknown = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === 'string' && name !== '' ? name : 'an object';
    } catch {
      return 'an object'; // a revoked Proxy, a throwing getter
    }
  }
  return typeof value;
}

/**
 * Rejects arguments beyond the `max` a function takes: an argument it would silently
 * ignore (`seal(key, msg, nonce)` has no nonce parameter) is a caller's mistake.
 * Pass `arguments.length`.
 */
export function checkArgs(count: number, max: number, fn: string): void {
  if (count > max) {
    throw invalid(`${fn} takes at most ${max} argument${max === 1 ? '' : 's'}, got ${count}; remove the extra ones`);
  }
}

export function checkInteger(value: unknown, what: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(`${what} must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** A non-empty string without NUL or any character of `forbidden` (paths, names). Never echoes the value. */
export function checkText(value: unknown, what: string, forbidden = ''): string {
  if (typeof value !== 'string' || value === '') {
    throw invalid(`${what} must be a non-empty string, got ${describe(value)}`);
  }
  for (const character of `\0${forbidden}`) {
    if (value.includes(character)) {
      throw invalid(`${what} must not contain ${character === '\0' ? 'a NUL character' : `'${character}'`}`);
    }
  }
  return value;
}

export function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== 'boolean') throw invalid(`${what} must be true or false, got ${describe(value)}`);
  return value;
}

export function checkFunction<T extends (...args: never[]) => unknown>(value: unknown, what: string): T {
  if (typeof value !== 'function') throw invalid(`${what} must be a function, got ${describe(value)}`);
  return value as T;
}

/** Whether a Uint8Array's ArrayBuffer was detached (transferred, moved by a stream). */
function isDetached(bytes: Uint8Array): boolean {
  if (bytes.byteLength !== 0) return false;
  try {
    bytes.buffer.slice(0, 0); // throws on a detached ArrayBuffer (Node 20 has no .detached)
    return false;
  } catch {
    return true;
  }
}

export function checkBytes(value: unknown, what: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw invalid(`${what} must be a Uint8Array, got ${describe(value)}`);
  if (isDetached(value)) {
    throw invalid(`${what} is a Uint8Array whose ArrayBuffer was detached (transferred or moved): it holds no bytes any more`);
  }
  return value;
}

/**
 * Secret input given as bytes: a Uint8Array of at least one byte. A string is refused
 * with the reason (it can never be wiped from the heap) and where to read a secret from.
 */
export function checkSecretBytes(value: unknown, what: string): Uint8Array {
  if (typeof value === 'string') {
    throw invalid(
      `${what} must be a Uint8Array, not a string: a string can never be wiped from the heap. Read the secret ` +
        'with SecretBuffer.fromFile/fromFd/fromEnv/prompt instead',
    );
  }
  const bytes = checkBytes(value, what);
  if (bytes.length === 0) throw invalid(`${what} must hold at least one byte, got an empty Uint8Array`);
  return bytes;
}

const encoder = new TextEncoder();

/** Non-secret input (a message to authenticate): bytes, or a string taken as UTF-8. */
export function checkMessage(value: unknown, what: string): Uint8Array {
  if (typeof value === 'string') return encoder.encode(value);
  return checkBytes(value, `${what} (or a string)`);
}

export function checkOneOf<T extends string>(value: unknown, what: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(`${what} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${describe(value)}`);
  }
  return value as T;
}

/** Options as checked: own keys only, in an object with no prototype to inherit from. */
export type Options = Readonly<Record<string, unknown>>;

/**
 * The options object of `fn` (as the caller called it: 'SecretBuffer.from()'), copied:
 * only its own enumerable keys, each read once, into a null-prototype object. A key
 * that is not in `allowed` (a misspelt `{ maxsize }`) is an error, never silently the
 * default; a key inherited from a prototype (`Object.prototype.backend = 'heap'`, a
 * prototype-pollution bug elsewhere) is never seen. Read options only from the result.
 */
export function checkOptions(value: unknown, fn: string, allowed: readonly string[]): Options {
  const copy: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  if (value === undefined) return copy;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(`the options of ${fn} must be an object, got ${describe(value)}`);
  }
  // The keys are listed once: a Proxy whose ownKeys answers differently the second time
  // cannot add one that was never checked.
  const keys = Object.keys(value);
  const unknown = keys.filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw invalid(
      `${fn} has no option ${unknown.map((k) => `'${k}'`).join(', ')}; its options are: ${allowed.join(', ')}`,
    );
  }
  for (const key of keys) copy[key] = (value as Record<string, unknown>)[key];
  return copy;
}

/** The options every allocating function takes. */
export const ALLOCATE_KEYS = ['backend', 'mlock'] as const;
/** The options of allocate() and the SecretBuffer constructors over it: where the region lives too. */
export const REGION_KEYS = [...ALLOCATE_KEYS, 'isolated'] as const;
/** The options of readFile() and promptSecret() (and the SecretBuffer readers over them). */
export const READ_KEYS = [...ALLOCATE_KEYS, 'maxSize'] as const;
/** The options of readFile() (and SecretBuffer.fromFile()). */
export const READ_FILE_KEYS = [...READ_KEYS, 'owner', 'maxMode'] as const;
/** The largest uid Linux gives a file: (uid_t)-1 means "no change" to chown, never an owner. */
const MAX_UID = 0xffff_fffe;

/**
 * readFile()'s `owner` and `maxMode` options, checked (for readFile, and for the loaders that
 * pass them on and check them when they are made): -1 for one not given.
 */
export function checkFileRules(given: { owner?: unknown; maxMode?: unknown }): { owner: number; maxMode: number } {
  const { owner, maxMode } = given;
  if (owner !== undefined && (typeof owner !== 'number' || !Number.isSafeInteger(owner) || owner < 0 || owner > MAX_UID)) {
    throw invalid(`owner must be a uid, an integer from 0 to ${MAX_UID} (for example process.getuid()), got ${describe(owner)}`);
  }
  if (maxMode !== undefined && (typeof maxMode !== 'number' || !Number.isSafeInteger(maxMode) || maxMode < 0 || maxMode > 0o7777)) {
    throw invalid(`maxMode must be permission bits, an integer from 0 to 0o7777 (for example 0o600), got ${describe(maxMode)}`);
  }
  return { owner: owner ?? -1, maxMode: maxMode ?? -1 };
}

/** The options of readFd(). */
export const READ_FD_KEYS = [...READ_KEYS, 'until'] as const;
/** The options of readEnv(). */
export const READ_ENV_KEYS = [...ALLOCATE_KEYS, 'remove'] as const;
/** The options of ageDecrypt(). */
export const AGE_DECRYPT_KEYS = [...READ_KEYS, 'identity', 'passphrase', 'maxWorkFactor'] as const;
/** The options of ageEncrypt(). */
export const AGE_ENCRYPT_KEYS = ['armor'] as const;
/** The options of hashPassword() and needsRehash(). */
export const PASSWORD_HASH_KEYS = ['timeCost', 'memoryCost', 'parallelism'] as const;
/** pkcs11Decrypt()'s options. */
export const PKCS11_DECRYPT_KEYS = [
  ...ALLOCATE_KEYS,
  'module',
  'slot',
  'tokenLabel',
  'pin',
  'key',
  'mechanism',
  'ciphertext',
  'iv',
  'aad',
  'oaepHash',
] as const;
/** pkcs11Decrypt()'s `key`. */
export const PKCS11_KEY_KEYS = ['label', 'id'] as const;
/** The algorithms of hmac() and hmacVerify(), and of every method built on them. */
export const HMAC_ALGORITHMS: readonly HmacAlgorithm[] = ['sha256', 'sha512'];
