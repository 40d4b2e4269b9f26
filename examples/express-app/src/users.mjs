// The user file: { "users": { "<name>": "<argon2id hash>" } }, mode 0600, made on first run
// with one demo user whose random password is written to stdout once, straight from
// guarded memory (write(2) from a read scope): it never becomes a JS string here.
import fs from 'node:fs';

import { hashPassword, SecretBuffer } from '@strongroom/express';

export const DEMO_USER = 'ada';
const PASSWORD_LENGTH = 20; // 20 characters of a 32-letter alphabet: 100 random bits
// No 0/O, 1/l/I: easy to read back. 32 letters, so byte & 31 picks one uniformly.
const ALPHABET = new TextEncoder().encode('abcdefghijkmnpqrstuvwxyz23456789');

/** A new random password in a frozen SecretBuffer (letters of ALPHABET). */
function randomPassword() {
  const password = SecretBuffer.random(PASSWORD_LENGTH);
  password.write((view) => {
    for (let i = 0; i < view.length; i++) view[i] = ALPHABET[view[i] & 31];
  });
  return password.freeze();
}

/**
 * Creates `file` with the demo user when it does not exist, writes that user's password to
 * the descriptor `out` (stdout) and returns true; false when the file was there already.
 */
export async function createUsersFile(file, out = 1) {
  if (fs.existsSync(file)) return false;
  const password = randomPassword();
  try {
    const hash = await hashPassword(password);
    const text = `${JSON.stringify({ users: { [DEMO_USER]: hash } }, null, 2)}\n`;
    // 'wx': O_EXCL, so two first runs at once cannot both write it.
    fs.writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
    fs.writeSync(out, `First run: created the user '${DEMO_USER}' with the password `);
    password.read((view) => fs.writeSync(out, view));
    fs.writeSync(out, `\n(shown this once and stored only as an Argon2id hash in ${file}; delete that file to make a new one)\n`);
  } finally {
    password.destroy();
  }
  return true;
}

/** The users and their hashes, as a Map (names are not secrets; hashes are not either). */
export function loadUsers(file) {
  const parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  const users = new Map();
  for (const [name, hash] of Object.entries(parsed?.users ?? {})) {
    if (typeof hash !== 'string' || !hash.startsWith('$argon2id$')) throw new Error(`${file}: the hash of '${name}' is not an argon2id hash`);
    users.set(name, hash);
  }
  if (users.size === 0) throw new Error(`${file} has no user; delete it to have the demo user made again`);
  return users;
}
