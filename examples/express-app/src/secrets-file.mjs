// The service's keys, in one local file made on first run: a line `name=<64 hex digits>`
// for each key, mode 0600, never committed. The key of each line is its 64 ASCII hex digits
// (256 random bits), so the webhook key is what you would paste into GitHub's "Secret" box.
//
// The file is written from and read into guarded memory only: generated in a SecretBuffer,
// written with write(2) from a read scope, read back with SecretBuffer.fromFd() (native
// read(2) into guarded pages), split into one Enclave per key with native copies. No key
// ever exists as a JS string or an ordinary Buffer.
import fs from 'node:fs';

import { Enclave, SecretBuffer } from '@strongroom/express';

/** The keys the service needs, in the order they are written. */
export const KEY_NAMES = Object.freeze(['jwt', 'cookie', 'webhook']);
const KEY_BYTES = 32; // random bytes per key; 64 hex digits in the file
const HEX_DIGITS = KEY_BYTES * 2;
const MAX_FILE = 4096;
const HEADER = '# strongroom example-express-app keys: mode 0600, never commit this file\n';
const HEX = new TextEncoder().encode('0123456789abcdef');
// 1 for an ASCII hex digit (either case), 0 for any other byte: a table, not a branch per byte.
const IS_HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') IS_HEX[c.charCodeAt(0)] = 1;

/** An error that stops the start-up with what to do, never a byte of the file. */
export class SecretsFileError extends Error {
  name = 'SecretsFileError';
}

/**
 * Creates `file` with a new random key for each name, mode 0600 (O_EXCL: an existing file is
 * never overwritten). Returns false when it was there already.
 */
export function createSecretsFile(file) {
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
  } catch (error) {
    if (error.code === 'EEXIST') return false;
    throw error;
  }
  const ascii = new TextEncoder();
  const header = ascii.encode(HEADER);
  const prefixes = KEY_NAMES.map((name) => ascii.encode(`${name}=`));
  const size = header.length + prefixes.reduce((sum, p) => sum + p.length + HEX_DIGITS + 1, 0);
  const random = SecretBuffer.random(KEY_BYTES * KEY_NAMES.length);
  const text = SecretBuffer.alloc(size);
  try {
    fs.fchmodSync(fd, 0o600); // the umask can only narrow the mode; this states it
    random.read((bytes) =>
      text.write((view) => {
        view.set(header, 0);
        let at = header.length;
        prefixes.forEach((prefix, k) => {
          view.set(prefix, at);
          at += prefix.length;
          for (let i = 0; i < KEY_BYTES; i++) {
            const byte = bytes[k * KEY_BYTES + i];
            view[at++] = HEX[byte >> 4];
            view[at++] = HEX[byte & 15];
          }
          view[at++] = 0x0a;
        });
      }),
    );
    text.read((view) => {
      for (let done = 0; done < view.length; ) done += fs.writeSync(fd, view, done, view.length - done);
    });
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fd = undefined;
    fs.rmSync(file, { force: true });
    throw error;
  } finally {
    random.destroy();
    text.destroy();
    if (fd !== undefined) fs.closeSync(fd);
  }
  return true;
}

/**
 * Opens `file` (no symlink followed) and checks, on the open descriptor, that it is a regular
 * file of this user with no permission beyond 0600; then reads it into guarded memory.
 */
function readChecked(file) {
  let fd;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (error) {
    if (error.code === 'ELOOP') throw new SecretsFileError(`${file} is a symbolic link; keep the keys in a regular file`);
    throw new SecretsFileError(`cannot open the keys file ${file} (${error.code}); remove the data folder to start afresh`);
  }
  try {
    const stat = fs.fstatSync(fd);
    if (!stat.isFile()) throw new SecretsFileError(`${file} is not a regular file`);
    const mode = stat.mode & 0o7777;
    if ((mode & ~0o600) !== 0) {
      throw new SecretsFileError(
        `${file} has mode 0${mode.toString(8)}, wider than 0600: a keys file must be readable and writable by its owner only. ` +
          `Run \`chmod 600 ${file}\` (and delete it for new keys if others could read it), then start again`,
      );
    }
    if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) {
      throw new SecretsFileError(`${file} belongs to uid ${stat.uid}, not to this user (uid ${process.getuid()}); it must be this user's own file`);
    }
    return SecretBuffer.fromFd(fd, { maxSize: MAX_FILE });
  } finally {
    fs.closeSync(fd);
  }
}

/** The name of a line (ASCII before '='), or undefined when the line has none. */
function nameOf(view, start, end) {
  let name = '';
  for (let i = start; i < end; i++) {
    if (view[i] === 0x3d) return name;
    if (view[i] < 0x61 || view[i] > 0x7a) return undefined; // names are lowercase letters
    name += String.fromCharCode(view[i]);
  }
  return undefined;
}

/**
 * One Enclave per key of the file: `{ jwt, cookie, webhook }`. Refuses (SecretsFileError) a
 * file with a mode wider than 0600, an unknown, repeated or missing name, or a value that is
 * not 64 hex digits; the message names the line, never its value.
 */
export function loadSecrets(file) {
  const contents = readChecked(file);
  const found = new Map(); // name -> { offset } into contents
  try {
    contents.read((view) => {
      let line = 0;
      for (let start = 0; start < view.length; ) {
        let end = view.indexOf(0x0a, start);
        if (end < 0) end = view.length;
        line++;
        if (end > start && view[start] !== 0x23) {
          const name = nameOf(view, start, end);
          if (name === undefined) throw new SecretsFileError(`${file}, line ${line}: expected name=<${HEX_DIGITS} hex digits>`);
          if (!KEY_NAMES.includes(name)) throw new SecretsFileError(`${file}, line ${line}: unknown key '${name}' (expected ${KEY_NAMES.join(', ')})`);
          if (found.has(name)) throw new SecretsFileError(`${file}, line ${line}: the key '${name}' is given twice`);
          const offset = start + name.length + 1;
          let bad = end - offset === HEX_DIGITS ? 0 : 1;
          for (let i = offset; i < end; i++) bad |= IS_HEX[view[i]] ^ 1;
          if (bad !== 0) throw new SecretsFileError(`${file}, line ${line}: the value of '${name}' is not ${HEX_DIGITS} hex digits`);
          found.set(name, offset);
        }
        start = end + 1;
      }
    });
    const missing = KEY_NAMES.filter((name) => !found.has(name));
    if (missing.length > 0) throw new SecretsFileError(`${file} has no ${missing.join(', ')} key; remove it to have a new one made`);
    const secrets = {};
    for (const name of KEY_NAMES) {
      const key = SecretBuffer.alloc(HEX_DIGITS).copyFrom(contents, 0, { sourceOffset: found.get(name), length: HEX_DIGITS });
      secrets[name] = Enclave.seal(key); // seals and destroys the buffer
    }
    return secrets;
  } finally {
    contents.destroy();
  }
}
