// What a secret source is: something that can load one secret into an Enclave, says
// where it loads from (for error messages: a path, a variable name, a key id; never a
// value), and optionally tells the store when the secret has changed (a file watch).
//
// The errors a source gives are StrongroomErrors with one of four codes, whatever the
// system under it calls them:
//   ERR_SECRET_NOT_FOUND     the source answered, and the secret is not there
//   ERR_SOURCE_UNAVAILABLE   the source could not be reached or read (retried if remote)
//   ERR_SOURCE_AUTH          the source refused our credentials (a wrong PIN, a 403)
//   ERR_SOURCE_FORMAT        what came back is not a secret of the expected form
import { isStrongroomError, StrongroomError, type StrongroomErrorCode } from '@strongroom/core-native';
import type { Enclave } from '@strongroom/enclave';
import { checkInteger } from '@strongroom/core-native/validate';

export type SourceErrorCode = 'ERR_SECRET_NOT_FOUND' | 'ERR_SOURCE_UNAVAILABLE' | 'ERR_SOURCE_AUTH' | 'ERR_SOURCE_FORMAT';

const kSource = Symbol('strongroom.source');

export interface SourceSpec {
  /** The kind of source: 'env', 'file', 'age', 'aws-kms', ... */
  readonly kind: string;
  /** Where it loads from, for messages: a path, a variable name, a key id. Never a value. */
  readonly where: string;
  /** Whether it talks to a network service (then the store retries with backoff within a deadline). */
  readonly remote: boolean;
  /** Loads the secret into a new Enclave; `signal` aborts a remote call at the deadline. */
  load(signal: AbortSignal): Promise<Enclave>;
  /** Calls `changed` whenever the secret may have changed; returns the function that stops watching. */
  watch?(changed: () => void): () => void;
}

/** A secret source: made by env(), file(), systemdCredential(), age(), ... and given to loadSecrets(). */
export interface Source extends SourceSpec {
  readonly [kSource]: true;
}

/** Makes a Source (the store accepts only these, so a typo'd object is an error at start-up). */
export function defineSource(spec: SourceSpec): Source {
  return Object.freeze({ ...spec, [kSource]: true as const });
}

export function isSource(value: unknown): value is Source {
  return typeof value === 'object' && value !== null && (value as Partial<Source>)[kSource] === true;
}

/** A source error naming the secret and the source, never the value; the system's error as its cause. */
export function sourceError(code: SourceErrorCode, source: Pick<SourceSpec, 'kind' | 'where'>, why: string, cause?: unknown): StrongroomError {
  return new StrongroomError(code, `${source.kind} source ${source.where}: ${why}`, cause === undefined ? undefined : { cause });
}

// How the codes of the lower layers read at this level.
const FROM_LOWER: Partial<Record<StrongroomErrorCode, SourceErrorCode>> = {
  ERR_NOT_FOUND: 'ERR_SECRET_NOT_FOUND',
  ERR_EMPTY: 'ERR_SOURCE_FORMAT',
  ERR_TOO_LARGE: 'ERR_SOURCE_FORMAT',
  ERR_AUTH: 'ERR_SOURCE_FORMAT', // a ciphertext that does not authenticate: tampered, or not for this key
  ERR_IO: 'ERR_SOURCE_UNAVAILABLE',
  ERR_UNSAFE_FILE: 'ERR_SOURCE_UNAVAILABLE', // another owner, or wider permissions than allowed
  ERR_AGE_FORMAT: 'ERR_SOURCE_FORMAT',
};

const SOURCE_CODES = new Set<string>(['ERR_SECRET_NOT_FOUND', 'ERR_SOURCE_UNAVAILABLE', 'ERR_SOURCE_AUTH', 'ERR_SOURCE_FORMAT']);

/**
 * A lower layer's error as a source error (its message kept: StrongroomError messages
 * never hold secret bytes); resource limits and programming errors pass through as they are.
 */
export function asSourceError(error: unknown, source: Pick<SourceSpec, 'kind' | 'where'>): unknown {
  if (!isStrongroomError(error)) return error;
  if (SOURCE_CODES.has(error.code)) return error;
  const code = FROM_LOWER[error.code];
  return code === undefined ? error : sourceError(code, source, error.message, error);
}

/** The largest secret a source reads unless told otherwise (its `maxSize` option): 64 KiB. */
export const DEFAULT_SECRET_MAX_SIZE = 64 * 1024;

/** The largest `maxSize` a source accepts: 64 MiB. */
const MAX_SECRET_MAX_SIZE = 64 * 1024 * 1024;

/** A source's `maxSize` option, checked: DEFAULT_SECRET_MAX_SIZE when not given, 1 byte to 64 MiB. */
export function maxSizeOf(value: unknown): number {
  return value === undefined ? DEFAULT_SECRET_MAX_SIZE : checkInteger(value, 'maxSize', 1, MAX_SECRET_MAX_SIZE);
}
