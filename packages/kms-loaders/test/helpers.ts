// Shared pieces of the @strongroom/kms-loaders tests: a temporary folder per file, the bytes
// of an Enclave (a heap copy, tests only), and a self-signed certificate for the HTTPS doubles.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import type { Enclave } from '../src/index.js';

/** A fresh strongroom-* temporary folder and the function that removes it. */
export function tempFolder(label: string): { dir: string; remove: () => void } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `strongroom-loaders-${label}-`));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The text an Enclave holds (tests only: a deliberate heap copy). */
export function textOf(enclave: Enclave): string {
  const opened = enclave.open();
  try {
    return opened.read((view) => Buffer.from(view).toString());
  } finally {
    opened.destroy();
  }
}

export const isRoot = process.getuid?.() === 0;

/** A key and self-signed certificate for 127.0.0.1 (PEM), made by the openssl command (Node cannot make one); undefined without openssl. */
export function selfSigned(commonName: string): { key: string; cert: string } | undefined {
  const { dir, remove } = tempFolder('tls');
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', `/CN=${commonName}`,
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')], { stdio: 'ignore' });
    return { key: fs.readFileSync(path.join(dir, 'key.pem'), 'utf8'), cert: fs.readFileSync(path.join(dir, 'cert.pem'), 'utf8') };
  } catch {
    return undefined;
  } finally {
    remove();
  }
}
