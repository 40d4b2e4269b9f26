// A real SoftHSM2 for PKCS#11 tests (softhsm2 and opensc from apt, installed by
// scripts/setup.sh): a token directory and config of its own in a temporary folder, the
// token initialised with a label and PIN (SoftHSM puts it in a random slot: the slot is
// returned), and keys put on it: AES keys written with opensc's pkcs11-tool (softhsm2-util
// imports only key pairs), RSA private keys imported from PKCS#8 PEM with softhsm2-util.
// The key files exist only while the tools run. SOFTHSM2_CONF is set in this process
// (the module reads it when it is loaded) until close(). Several tokens may share it.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where Debian's softhsm2 package puts the PKCS#11 module. */
export const SOFTHSM_MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const TOOLS = [SOFTHSM_MODULE, '/usr/bin/softhsm2-util', '/usr/bin/pkcs11-tool'];

export interface SoftHsm {
  readonly module: string;
  /** The folder of the tokens and of the config; removed by close(). */
  readonly dir: string;
  /** The config file (SOFTHSM2_CONF), to hand to a child process. */
  readonly conf: string;
  /** Initialises a token with this label, PIN and SO PIN; returns the slot SoftHSM gave it. */
  initToken(label: string, pin: string, soPin: string): number;
  /** Writes an AES secret key (16, 24 or 32 bytes) on the token, for decryption. */
  addAesKey(token: { label: string; pin: string }, key: Uint8Array, keyLabel: string, idHex?: string): void;
  /** Imports an RSA private key (PKCS#8 PEM) on the token. */
  addRsaKey(token: { label: string; pin: string }, pkcs8Pem: string | Buffer, keyLabel: string, idHex: string): void;
  /** Removes the folder and unsets SOFTHSM2_CONF (when it is still this one's). */
  close(): void;
}

/** A SoftHSM2 of its own; throws, saying what to install, when SoftHSM2 or opensc is missing. */
export function softHsm(): SoftHsm {
  for (const tool of TOOLS) {
    if (!fs.existsSync(tool)) throw new Error(`${tool} is missing: run scripts/setup.sh (it installs softhsm2 and opensc)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-softhsm-'));
  const conf = path.join(dir, 'softhsm2.conf');
  fs.mkdirSync(path.join(dir, 'tokens'));
  fs.writeFileSync(conf, `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n`);
  process.env['SOFTHSM2_CONF'] = conf;
  const run = (file: string, args: string[]): string => {
    try {
      return execFileSync(file, args, { env: { ...process.env, SOFTHSM2_CONF: conf }, encoding: 'utf8', stdio: 'pipe' });
    } catch (error) {
      const { stdout, stderr } = error as { stdout?: string; stderr?: string };
      throw new Error(`${file} ${args[0] ?? ''} failed: ${String(stderr ?? '')}${String(stdout ?? '')}`, { cause: error });
    }
  };
  // Key material exists on disk only for the moment a tool reads it.
  const withFile = (name: string, content: Uint8Array | string, use: (file: string) => void): void => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content, { mode: 0o600 });
    try {
      use(file);
    } finally {
      fs.rmSync(file, { force: true });
    }
  };
  return {
    module: SOFTHSM_MODULE,
    dir,
    conf,
    initToken: (label, pin, soPin) => {
      const out = run('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin]);
      const found = /reassigned to slot (\d+)/.exec(out);
      if (found?.[1] === undefined) throw new Error(`softhsm2-util did not say which slot: ${out}`);
      return Number(found[1]);
    },
    addAesKey: (token, key, keyLabel, idHex) =>
      withFile('aes.bin', key, (file) =>
        run('pkcs11-tool', [
          '--module', SOFTHSM_MODULE, '--token-label', token.label, '--login', '--pin', token.pin, '--write-object', file,
          '--type', 'secrkey', '--key-type', `AES:${key.length}`, '--label', keyLabel, ...(idHex === undefined ? [] : ['--id', idHex]),
          '--usage-decrypt', '--sensitive',
        ]),
      ),
    addRsaKey: (token, pem, keyLabel, idHex) =>
      withFile('rsa.pem', pem, (file) =>
        run('softhsm2-util', ['--import', file, '--token', token.label, '--label', keyLabel, '--id', idHex, '--pin', token.pin]),
      ),
    close: () => {
      if (process.env['SOFTHSM2_CONF'] === conf) delete process.env['SOFTHSM2_CONF'];
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
