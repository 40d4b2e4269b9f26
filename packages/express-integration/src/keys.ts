// Signing keys: a SecretBuffer or an Enclave (or, where keys rotate, a non-empty array of
// them; the first signs, any verifies). The HMAC runs natively on the guarded bytes:
// neither a string nor a Buffer of the key ever exists in JS.
import { Enclave, SecretBuffer } from '@strongroom/enclave';
import { describe, invalid } from '@strongroom/core-native/validate';

export type HmacKey = SecretBuffer | Enclave;
/** One key, or several for rotation: the first signs, any of them verifies. */
export type HmacKeys = HmacKey | readonly HmacKey[];

function checkKey(value: unknown, what: string, minBytes: number): HmacKey {
  if (!(value instanceof SecretBuffer) && !(value instanceof Enclave)) {
    throw invalid(`${what} must be a SecretBuffer or an Enclave (never a string: it could not be wiped), got ${describe(value)}`);
  }
  if (value instanceof SecretBuffer && value.destroyed) throw invalid(`${what} is a destroyed SecretBuffer`);
  if (value.size < minBytes) {
    throw invalid(`${what} is ${value.size} bytes; use at least ${minBytes} random bytes (SecretBuffer.random(${minBytes}))`);
  }
  return value;
}

/** The keys of a `secret` option, checked at start-up, as a frozen array (first = signing key). */
export function checkKeys(value: unknown, what: string, minBytes = 1): readonly HmacKey[] {
  if (Array.isArray(value)) {
    if (value.length === 0) throw invalid(`${what} must not be an empty array`);
    return Object.freeze(value.map((key, i) => checkKey(key, `${what}[${i}]`, minBytes)));
  }
  return Object.freeze([checkKey(value, what, minBytes)]);
}
