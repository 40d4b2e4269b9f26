// StrongroomError: the one error type of every strongroom package. `code` is stable
// and meant for programs; `message` says what to do next and never holds a secret byte.

export type StrongroomErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_MLOCK_LIMIT'
  | 'ERR_NO_MEMORY'
  // A new region would take strongroom's memory mappings past their budget under
  // vm.max_map_count, or leave the process too few for V8 and libc.
  | 'ERR_MAPPING_LIMIT'
  | 'ERR_AUTH'
  | 'ERR_FREED'
  | 'ERR_NOACCESS'
  | 'ERR_BACKEND_UNAVAILABLE'
  | 'ERR_EXTERNAL_BUFFERS_DISALLOWED'
  | 'ERR_NATIVE_UNAVAILABLE'
  | 'ERR_SYSTEM'
  // A view left its scope (transfer(), a byte stream, a BYOB read): the secret was moved or wiped.
  | 'ERR_VIEW_ESCAPED'
  // Reading secrets in (io.ts); promptSecret() also uses ERR_BUSY.
  | 'ERR_NOT_FOUND'
  | 'ERR_TOO_LARGE'
  | 'ERR_EMPTY'
  | 'ERR_IO'
  | 'ERR_NOT_A_TTY'
  // readFile({ owner, maxMode }): the file opened has another owner or wider permissions.
  | 'ERR_UNSAFE_FILE'
  // An encoded password hash libsodium 1.0.18 cannot verify (argon2i/argon2d, p > 1, another version).
  | 'ERR_UNSUPPORTED_HASH'
  // A file that is not a well-formed age v1 file (age.ts): header, armor or payload framing.
  | 'ERR_AGE_FORMAT'
  // pkcs11Decrypt: any failure a token reports besides those with codes of their own (a
  // refused PIN is ERR_SOURCE_AUTH, a module that does not load ERR_SOURCE_UNAVAILABLE); its
  // CKR_ code is in the message.
  | 'ERR_PKCS11'
  // Used by the higher packages (@strongroom/buffer, @strongroom/enclave, ...).
  | 'ERR_DESTROYED'
  | 'ERR_FROZEN'
  | 'ERR_BUSY'
  // A named secret that a store (@strongroom/express, @strongroom/kms-loaders) does not hold;
  // a token or key label (pkcs11Decrypt) that a PKCS#11 module does not have.
  | 'ERR_SECRET_NOT_FOUND'
  // A secret source of @strongroom/kms-loaders that failed: unreachable or unreadable,
  // refused our credentials, or gave something that is not a secret of the expected form.
  // pkcs11Decrypt uses the first two: a PKCS#11 module that does not load, a refused PIN.
  | 'ERR_SOURCE_UNAVAILABLE'
  | 'ERR_SOURCE_AUTH'
  | 'ERR_SOURCE_FORMAT'
  // A JSON Web Token refused by verifyJwt() (@strongroom/express).
  | 'ERR_JWT_INVALID'
  | 'ERR_JWT_SIGNATURE'
  | 'ERR_JWT_EXPIRED'
  | 'ERR_JWT_NOT_YET_VALID'
  | 'ERR_JWT_CLAIM';

export class StrongroomError extends Error {
  readonly code: StrongroomErrorCode;

  constructor(code: StrongroomErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'StrongroomError';
    this.code = code;
  }
}

/** True for a StrongroomError, also one thrown by another copy of this package. */
export function isStrongroomError(value: unknown): value is StrongroomError {
  return (
    value instanceof Error &&
    value.name === 'StrongroomError' &&
    typeof (value as { code?: unknown }).code === 'string'
  );
}
