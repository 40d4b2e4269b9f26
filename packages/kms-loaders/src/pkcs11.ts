// pkcs11({ module, slot | tokenLabel, pin, key, ciphertext, mechanism }): envelope
// decryption with a key that never leaves a PKCS#11 token. The token decrypts the wrapped
// data key (AES-GCM or RSA-OAEP) through core-native's own minimal PKCS#11 caller (dlopen,
// no npm binding: those hand the plaintext back in a JS Buffer), straight into guarded
// memory, which is then sealed. The PIN is a SecretBuffer or an Enclave: it is read in
// native code and never becomes a JS string.
import { SecretBuffer, pkcs11Decrypt, type OaepHash, type Pkcs11Key, type Pkcs11Mechanism } from '@strongroom/buffer';
import { checkArgs, checkOptions, checkText, describe, invalid } from '@strongroom/core-native/validate';
import { Enclave } from '@strongroom/enclave';

import { asSourceError, defineSource, type Source } from './source.js';

export interface Pkcs11SourceOptions {
  /** The PKCS#11 module's path, e.g. '/usr/lib/softhsm/libsofthsm2.so'. */
  module: string;
  /** The token by its label, or... */
  tokenLabel?: string;
  /** ...by its slot id: exactly one of the two. */
  slot?: number;
  /** The user PIN. */
  pin: SecretBuffer | Enclave;
  /** The key encryption key on the token, by label and/or id. */
  key: Pkcs11Key;
  /** The wrapped data key (see core-native's pkcs11Decrypt for the forms). */
  ciphertext: Uint8Array;
  mechanism: Pkcs11Mechanism;
  iv?: Uint8Array;
  aad?: Uint8Array;
  oaepHash?: OaepHash;
}

const KEYS = ['module', 'tokenLabel', 'slot', 'pin', 'key', 'ciphertext', 'mechanism', 'iv', 'aad', 'oaepHash'] as const;

/** A data key unwrapped by a PKCS#11 token (an HSM, a smart card, SoftHSM2). */
export function pkcs11(options: Pkcs11SourceOptions): Source {
  checkArgs(arguments.length, 1, 'pkcs11()');
  const given = checkOptions(options, 'pkcs11()', KEYS);
  const module = checkText(given.module, 'module');
  if (!(given.pin instanceof SecretBuffer) && !(given.pin instanceof Enclave)) {
    throw invalid(`pin must be a SecretBuffer or an Enclave (never a string: it could not be wiped), got ${describe(given.pin)}`);
  }
  if (!(given.ciphertext instanceof Uint8Array)) throw invalid(`ciphertext must be a Uint8Array, got ${describe(given.ciphertext)}`);
  const pin = given.pin;
  // The wrapped key is not secret; a copy keeps the caller's later changes out.
  const rest = { ...given, ciphertext: Uint8Array.from(given.ciphertext) } as Record<string, unknown>;
  delete rest.pin;
  const token = given.tokenLabel !== undefined ? `token '${String(given.tokenLabel)}'` : `slot ${String(given.slot)}`;
  const key = given.key as Pkcs11Key | undefined;
  const spec = { kind: 'pkcs11', where: `${module} ${token} key '${key?.label ?? '(by id)'}'` };
  const decrypt = (pinBuffer: SecretBuffer): Promise<SecretBuffer> =>
    pkcs11Decrypt({ ...(rest as unknown as Omit<Parameters<typeof pkcs11Decrypt>[0], 'pin'>), pin: pinBuffer });
  return defineSource({
    ...spec,
    remote: false,
    load: async () => {
      try {
        // An Enclave PIN is opened for this call only (use() destroys it once it settles);
        // core-native copies the PIN natively before its promise is even returned.
        const data = pin instanceof Enclave ? await pin.use(decrypt) : await decrypt(pin);
        return Enclave.seal(data);
      } catch (error) {
        throw asSourceError(error, spec);
      }
    },
  });
}
