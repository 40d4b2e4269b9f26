// The service's keys: one file per key in the keys folder, laid out as Docker and Kubernetes
// mount secrets (a folder of mode 0700, a file of mode 0600 per key, named after the key):
//
//   keys/jwt      signs the JWTs
//   keys/cookie   signs the session cookie
//   keys/webhook  the GitHub webhook secret
//
// Each file holds 64 ASCII hex digits (32 random bytes) and nothing else, not even a newline:
// the webhook key is what you paste into GitHub's "Secret" box. The files are made on the
// first run (random bytes turned into hex digits in guarded memory and written with write(2)
// from a read scope) and loaded with @strongroom/kms-loaders: file() reads each one natively
// into guarded pages and seals it in an Enclave, and watches the folder, so a key replaced on
// disk is loaded again and served from then on. keyFile() wraps file() with the demo's own
// rules (defineSource): a key file must be this user's regular file with no permission
// beyond 0600, and hold 64 hex digits. No key is ever a JS string or an ordinary Buffer.
import fs from 'node:fs';
import path from 'node:path';

import { SecretBuffer } from '@strongroom/express';
import { defineSource, file, loadSecrets, sourceError } from '@strongroom/kms-loaders';

/** The keys the service needs: the names of the files in the keys folder. */
export const KEY_NAMES = Object.freeze(['jwt', 'cookie', 'webhook']);
const KEY_BYTES = 32; // random bytes per key
const HEX_DIGITS = KEY_BYTES * 2; // what a key file holds
const MAX_FILE = 4096; // read at most this much: more is refused by file() (ERR_SOURCE_FORMAT)
const HEX = new TextEncoder().encode('0123456789abcdef');
// 1 for an ASCII hex digit (either case), 0 for any other byte: a table, not a branch per byte.
const IS_HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') IS_HEX[c.charCodeAt(0)] = 1;
/** The shell command that puts a new random key in `target` (written beside it, then renamed over it). */
export const newKeyCommand = (target) =>
  `(cd ${path.dirname(target)} && umask 077 && openssl rand -hex ${KEY_BYTES} | tr -d '\\n' > ${path.basename(target)}.new && mv ${path.basename(target)}.new ${path.basename(target)})`;

/** An error about the keys folder that stops the start-up with what to do. */
export class KeysError extends Error {
  name = 'KeysError';
}

const ownUid = () => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/** Makes the keys folder (mode 0700) if it is not there, and checks it: this user's folder, no permission beyond 0700. */
function keysFolder(dir) {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = fs.lstatSync(dir);
  if (!stat.isDirectory()) throw new KeysError(`${dir} is not a folder (a symbolic link?); the keys folder must be a real folder`);
  const mode = stat.mode & 0o7777;
  if ((mode & ~0o700) !== 0) {
    throw new KeysError(
      `the keys folder ${dir} has mode 0${mode.toString(8)}, wider than 0700: only its owner may list or change it. ` +
        `Run \`chmod 700 ${dir}\` (and replace the keys if others could read them), then start again`,
    );
  }
  if (ownUid() !== undefined && stat.uid !== ownUid()) {
    throw new KeysError(`the keys folder ${dir} belongs to uid ${stat.uid}, not to this user (uid ${ownUid()}); it must be this user's own folder`);
  }
}

/** Creates `target` with a new random key, mode 0600 (O_EXCL: an existing file is never overwritten); false when it was there. */
function createKeyFile(target) {
  let fd;
  try {
    fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    if (error.code === 'EEXIST') return false;
    throw error;
  }
  const random = SecretBuffer.random(KEY_BYTES);
  const text = SecretBuffer.alloc(HEX_DIGITS);
  try {
    fs.fchmodSync(fd, 0o600); // the umask can only narrow the mode; this states it
    random.read((bytes) =>
      text.write((view) => {
        for (let i = 0; i < KEY_BYTES; i++) {
          view[2 * i] = HEX[bytes[i] >> 4];
          view[2 * i + 1] = HEX[bytes[i] & 15];
        }
      }),
    );
    text.read((view) => {
      for (let done = 0; done < view.length; ) done += fs.writeSync(fd, view, done, view.length - done);
    });
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fd = undefined;
    fs.rmSync(target, { force: true });
    throw error;
  } finally {
    random.destroy();
    text.destroy();
    if (fd !== undefined) fs.closeSync(fd);
  }
  return true;
}

/**
 * Makes the keys folder `dir` if needed (and refuses one with a mode wider than 0700), then a
 * key file for each name of KEY_NAMES that has none. Returns the names of the keys it made.
 */
export function createKeyFiles(dir) {
  keysFolder(dir);
  return KEY_NAMES.filter((name) => createKeyFile(path.join(dir, name)));
}

/**
 * Checks, before each read, that `target` is this user's regular file with no permission beyond
 * 0600. (lstat: a symbolic link is refused. The file is then opened by file() under its path;
 * in a folder of mode 0700 only this user could swap it in between.)
 */
function checkKeyFile(target, source) {
  let stat;
  try {
    stat = fs.lstatSync(target);
  } catch (error) {
    if (error.code === 'ENOENT') throw sourceError('ERR_SECRET_NOT_FOUND', source, 'no such file; restart the service to have a new key made');
    throw sourceError('ERR_SOURCE_UNAVAILABLE', source, `cannot read it (${error.code})`, error);
  }
  if (stat.isSymbolicLink()) throw sourceError('ERR_SOURCE_UNAVAILABLE', source, 'a symbolic link; keep the key in a regular file');
  if (!stat.isFile()) throw sourceError('ERR_SOURCE_UNAVAILABLE', source, 'not a regular file');
  const mode = stat.mode & 0o7777;
  if ((mode & ~0o600) !== 0) {
    throw sourceError(
      'ERR_SOURCE_UNAVAILABLE',
      source,
      `mode 0${mode.toString(8)}, wider than 0600: a key file must be readable and writable by its owner only. ` +
        `Run \`chmod 600 ${target}\` (and replace the key if others could read it)`,
    );
  }
  if (ownUid() !== undefined && stat.uid !== ownUid()) {
    throw sourceError('ERR_SOURCE_UNAVAILABLE', source, `it belongs to uid ${stat.uid}, not to this user (uid ${ownUid()}); it must be this user's own file`);
  }
}

/** Whether the Enclave holds exactly 64 ASCII hex digits (every byte looked at, whatever it finds). */
function isHexKey(enclave) {
  if (enclave.size !== HEX_DIGITS) return false; // the size is not secret
  return enclave.use((key) =>
    key.read((view) => {
      let bad = 0;
      for (let i = 0; i < view.length; i++) bad |= IS_HEX[view[i]] ^ 1;
      return bad === 0;
    }),
  );
}

/** The source of one key: file(target, { watch: true }) of kms-loaders, with the checks above before and after each read. */
function keyFile(target) {
  const base = file(target, { watch: true, maxSize: MAX_FILE });
  return defineSource({
    kind: base.kind,
    where: base.where,
    remote: false,
    watch: base.watch,
    async load(signal) {
      checkKeyFile(base.where, base);
      const enclave = await base.load(signal);
      if (!isHexKey(enclave)) {
        throw sourceError('ERR_SOURCE_FORMAT', base, `expected ${HEX_DIGITS} hex digits and nothing else (no newline); make a new key with \`${newKeyCommand(base.where)}\``);
      }
      return enclave;
    },
  });
}

/**
 * Loads every key of the folder `dir` into a SecretStore of kms-loaders (one Enclave per name
 * of KEY_NAMES), each watched for rotation. Rejects, with a message naming the file and what to
 * do (never a byte of a key), when a file is missing, has a mode wider than 0600 or is not a key.
 */
export function loadKeys(dir) {
  return loadSecrets(Object.fromEntries(KEY_NAMES.map((name) => [name, keyFile(path.join(dir, name))])), { required: KEY_NAMES });
}
