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
/**
 * 1 when the byte c is not an ASCII hex digit (either case), else 0: arithmetic only, no branch
 * and no table indexed by a key byte (whose cache lines could tell the byte's range).
 * `(x - lo) | (hi - x)` is negative exactly when x is outside lo..hi; `>>> 31` takes its sign.
 */
const notHex = (c) => {
  const lower = c | 0x20; // 'A'-'F' -> 'a'-'f'; a digit stays a digit or leaves '0'-'9'
  const notDigit = ((c - 0x30) | (0x39 - c)) >>> 31;
  const notLetter = ((lower - 0x61) | (0x66 - lower)) >>> 31;
  return notDigit & notLetter;
};
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
 * Checks, before each read, that `target` is a regular file and not a symbolic link (lstat, by
 * path: in a folder of mode 0700 only this user could put a link there in between). Its owner and
 * mode are judged by file() itself ({ owner, maxMode }), by fstat on the descriptor it reads, so
 * a file swapped in after this check is judged on those too.
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
}

/** Whether the Enclave holds exactly 64 ASCII hex digits (every byte looked at, whatever it finds). */
function isHexKey(enclave) {
  if (enclave.size !== HEX_DIGITS) return false; // the size is not secret
  return enclave.use((key) =>
    key.read((view) => {
      let bad = 0;
      for (let i = 0; i < view.length; i++) bad |= notHex(view[i]);
      return bad === 0;
    }),
  );
}

/** The source of one key: file(target, { watch: true }) of kms-loaders, with the checks above before and after each read. */
function keyFile(target) {
  // This user's own file, readable and writable by its owner only (0600 or narrower).
  const base = file(target, { watch: true, maxSize: MAX_FILE, owner: ownUid(), maxMode: 0o600 });
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
