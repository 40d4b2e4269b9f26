// The reference `age` CLI (Debian's age package: age and age-keygen, installed by
// scripts/setup.sh) for tests of age decryption: identities made by age-keygen, files
// encrypted to a recipient, files encrypted and decrypted with a passphrase typed at a
// pseudo-terminal (startTerminal: age reads a passphrase from the terminal and nowhere else),
// and the X25519 scalar an identity's AGE-SECRET-KEY-1 line encodes, for residue scans.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

import { startTerminal, TERMINAL_SAY } from './terminal.js';

const TIMEOUT_MS = 60_000;

/** An identity file made by age-keygen, and its recipient (age1…). */
export interface AgeIdentityFile {
  file: string;
  recipient: string;
}

/** Runs age or age-keygen to its end, `input` on its stdin; its stdout. Throws with its stderr when it fails. */
function run(command: 'age' | 'age-keygen', args: readonly string[], input?: Uint8Array | string): string {
  const result = spawnSync(command, args, { input, encoding: 'utf8', timeout: TIMEOUT_MS });
  if (result.error !== undefined) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    const hint = missing ? ': install it with `bash scripts/setup.sh` (Debian package age)' : '';
    throw new Error(`${command} ${args.join(' ')}: ${result.error.message}${hint}`, { cause: result.error });
  }
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${String(result.status ?? result.signal)}: ${result.stderr}`);
  return result.stdout;
}

/** Runs `age args` to its end, `input` (if any) on its stdin: its stdout (UTF-8). Throws with its stderr when it fails. */
export function ageCli(args: readonly string[], input?: Uint8Array | string): string {
  return run('age', args, input);
}

/** A new X25519 identity written to `file` by age-keygen: the file and its recipient. */
export function ageCliKeygen(file: string): AgeIdentityFile {
  run('age-keygen', ['-o', file]);
  return { file, recipient: run('age-keygen', ['-y', file]).trim() };
}

/** `age -r recipient` of `plaintext` (given on stdin) into `output`; `armor`: `-a`. */
export function ageCliEncrypt(recipient: string, plaintext: Uint8Array | string, output: string, options: { armor?: boolean } = {}): void {
  ageCli(['-r', recipient, ...(options.armor === true ? ['-a'] : []), '-o', output], plaintext);
}

/** Runs `age args` on a pseudo-terminal, typing the passphrase at each prompt in turn: its exit status and what the terminal showed. */
async function onTerminal(args: readonly string[], passphrase: string, prompts: readonly string[]): Promise<{ status: number | null; output: string }> {
  ageCli(['--version']); // says how to install age when it is missing, which the terminal would not
  const terminal = startTerminal(
    `import { spawnSync } from 'node:child_process';
     ${TERMINAL_SAY}
     const result = spawnSync('age', ${JSON.stringify(args)}, { stdio: 'inherit' });
     say('done', result.status);`,
    { timeoutMs: TIMEOUT_MS },
  );
  for (const prompt of prompts) {
    await terminal.shown(prompt);
    terminal.type(`${passphrase}\n`);
  }
  const status = await terminal.report('done');
  if (status !== null && typeof status !== 'number') throw new Error(`age ${args.join(' ')} reported ${JSON.stringify(status)}:\n${terminal.output}`);
  return { status, output: terminal.output };
}

/** `age -p` of the file `input` into `output` (`armor`: `-a`), the passphrase typed twice, as a person would. Throws when age fails. */
export async function ageCliEncryptWithPassphrase(input: string, output: string, passphrase: string, options: { armor?: boolean } = {}): Promise<void> {
  const args = ['-p', ...(options.armor === true ? ['-a'] : []), '-o', output, input];
  const { status, output: shown } = await onTerminal(args, passphrase, ['Enter passphrase', 'Confirm passphrase']);
  if (status !== 0) throw new Error(`age -p exited with ${String(status)}:\n${shown}`);
}

/** `age -d` of the passphrase file `input` into `output`, the passphrase typed once: age's exit status (0: decrypted). */
export async function ageCliDecryptWithPassphrase(input: string, output: string, passphrase: string): Promise<number | null> {
  return (await onTerminal(['-d', '-o', output, input], passphrase, ['Enter passphrase'])).status;
}

const BECH32 = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const IDENTITY_PREFIX = 'AGE-SECRET-KEY-1';

/**
 * The AGE-SECRET-KEY-1… line of an identity file (its bytes, without the newline) and the
 * 32-byte X25519 scalar it encodes (bech32; the checksum is not checked): the needles of a
 * residue scan for an identity.
 */
export function readAgeIdentity(file: string): { line: Uint8Array; scalar: Uint8Array } {
  const line = fs.readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(IDENTITY_PREFIX));
  if (line === undefined) throw new Error(`${file} holds no ${IDENTITY_PREFIX} line`);
  const out: number[] = [];
  let acc = 0;
  let bits = 0;
  for (const c of line.toLowerCase().slice(IDENTITY_PREFIX.length, -6)) {
    const value = BECH32.indexOf(c);
    if (value === -1) throw new Error(`the identity in ${file} holds a character that is not bech32`);
    acc = ((acc << 5) | value) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push((acc >> bits) & 0xff);
    }
  }
  if (out.length !== 32) throw new Error(`the identity in ${file} does not decode to 32 bytes`);
  return { line: new Uint8Array(Buffer.from(line, 'latin1')), scalar: Uint8Array.from(out) };
}
