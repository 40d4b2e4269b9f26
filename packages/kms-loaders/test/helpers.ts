// Shared pieces of the @strongroom/kms-loaders tests: a temporary folder per file, and the
// bytes of an Enclave (a heap copy, tests only).
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
