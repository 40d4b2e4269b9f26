// Shared pieces of the @strongroom/kms-loaders tests: a temporary folder per file, the bytes
// of an Enclave (a heap copy, tests only), a self-signed certificate for the HTTPS doubles,
// and what the tests against a protocol double share (fast retries, a load's failure, the
// hooks that reset the double and count live SecretBuffers).
// (The residue tests' pieces are in residue-helpers.ts.)
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, beforeEach, expect } from 'vitest';

import { loadSecrets, SecretBuffer, type Enclave, type Source } from '../src/index.js';

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

/** loadSecrets options that retry within milliseconds. */
export const fast = { retry: { minDelay: 1, maxDelay: 5 } };

/** How a load of `s` alone fails: the error's code, message and cause. Throws when the load succeeds. */
export async function loadFailure(s: Source, options: Parameters<typeof loadSecrets>[1] = fast): Promise<{ code: string; message: string; cause: unknown }> {
  try {
    await loadSecrets({ s }, options);
  } catch (error) {
    return { code: (error as { code: string }).code, message: (error as Error).message, cause: (error as Error).cause };
  }
  throw new Error('the load did not fail');
}

/**
 * The hooks of a test file against a protocol double (`double()`, made in its beforeAll): before
 * each test the double's faults and request log are emptied and the live SecretBuffers
 * counted; after it, as many must be alive (no region left behind).
 */
export function resetDoubleEachTest(double: () => { faults: unknown[]; log: unknown[] }): void {
  let live = 0;
  beforeEach(() => {
    double().faults.length = 0;
    double().log.length = 0;
    live = SecretBuffer.live().buffers;
  });
  afterEach(() => {
    expect(SecretBuffer.live().buffers).toBe(live); // no region left alive
  });
}
