// Shared bits of the testkit tests: temporary directories that are always removed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const created: string[] = [];

export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-testkit-'));
  created.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

export const isRoot = process.geteuid?.() === 0;

/** Whether this process's effective capabilities include CAP_IPC_LOCK (bit 14). */
export function hasIpcLock(status = fs.readFileSync('/proc/self/status', 'utf8')): boolean {
  const capEff = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  if (capEff === undefined) throw new Error('no CapEff line in status');
  return (BigInt(`0x${capEff}`) & (1n << 14n)) !== 0n;
}
