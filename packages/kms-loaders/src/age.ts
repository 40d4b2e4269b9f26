// age(path, { identity | passphrase }): an age v1 file (the format sops and many GitOps
// set-ups use) decrypted natively in core-native into guarded memory: the header MAC is
// checked before any payload byte is released, the STREAM payload chunk by chunk, and the
// identity (an `AGE-SECRET-KEY-1…` file's text) or the passphrase is a SecretBuffer or an
// Enclave, read in native code. With { watch }, a changed file is decrypted again.
import { ageDecrypt, SecretBuffer } from '@strongroom/buffer';
import { checkArgs, checkBoolean, checkInteger, checkOptions, checkText, describe, invalid } from '@strongroom/core-native/validate';
import { Enclave } from '@strongroom/enclave';
import path from 'node:path';

import { folderWatch } from './local.js';
import { asSourceError, defineSource, maxSizeOf, type Source } from './source.js';

export interface AgeSourceOptions {
  /** The identity: one or more `AGE-SECRET-KEY-1…` lines, e.g. file('key.txt') read into a SecretBuffer. */
  identity?: SecretBuffer | Enclave;
  /** The passphrase of a file made with `age -p`. */
  passphrase?: SecretBuffer | Enclave;
  /** The largest encrypted file read (default 64 KiB). */
  maxSize?: number;
  /** The largest scrypt work factor accepted (default 18, what `age -p` writes). */
  maxWorkFactor?: number;
  /** Decrypt again when the file changes (default false). */
  watch?: boolean;
}

function checkKey(value: unknown, what: string): SecretBuffer | Enclave {
  if (!(value instanceof SecretBuffer) && !(value instanceof Enclave)) {
    throw invalid(`${what} must be a SecretBuffer or an Enclave (never a string: it could not be wiped), got ${describe(value)}`);
  }
  return value;
}

/** An age-encrypted file, decrypted natively into an Enclave. */
export function age(filePath: string, options: AgeSourceOptions): Source {
  checkArgs(arguments.length, 2, 'age()');
  checkText(filePath, 'the path of age()');
  const given = checkOptions(options, 'age()', ['identity', 'passphrase', 'maxSize', 'maxWorkFactor', 'watch']);
  if ((given.identity === undefined) === (given.passphrase === undefined)) {
    throw invalid('age() needs exactly one of { identity } (an X25519 identity) or { passphrase } (scrypt)');
  }
  const which = given.identity !== undefined ? 'identity' : 'passphrase';
  const key = checkKey(given[which], which);
  const maxSize = maxSizeOf(given.maxSize);
  const maxWorkFactor = given.maxWorkFactor === undefined ? undefined : checkInteger(given.maxWorkFactor, 'maxWorkFactor', 1, 22);
  const watch = given.watch === undefined ? false : checkBoolean(given.watch, 'watch');
  const absolute = path.resolve(filePath);
  const spec = { kind: 'age', where: absolute };
  const decrypt = (secret: SecretBuffer): Enclave =>
    Enclave.seal(ageDecrypt(absolute, { [which]: secret, maxSize, ...(maxWorkFactor === undefined ? {} : { maxWorkFactor }) }));
  return defineSource({
    ...spec,
    remote: false,
    load: async () => {
      try {
        return key instanceof Enclave ? key.use(decrypt) : decrypt(key);
      } catch (error) {
        throw asSourceError(error, spec);
      }
    },
    ...(watch ? { watch: folderWatch(absolute) } : {}),
  });
}
