// Core-file helpers: whether a crashing child with core dumps on leaves a file we can find,
// where it is, and whether it holds a marker. A core of a Node process is large and mostly
// sparse, so fileContains streams it in overlapping chunks instead of loading it. The check
// assumes the kernel writes 'core' or 'core.<pid>' into the crashing process's cwd.

import fs from 'node:fs';
import path from 'node:path';
import { searchChunks, validateMarker } from './scan.js';

export interface CoreDumpSupport {
  supported: boolean;
  reason: string;
}

const CORE_PATTERN = '/proc/sys/kernel/core_pattern';
const CORE_NAME = /^core(\.\d+)?$/;
const FILE_CHUNK_SIZE = 4 << 20;

function hardCoreLimit(): string | undefined {
  try {
    return /^Max core file size\s+\S+\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/**
 * supported: a child run with coreLimit 'unlimited' that crashes leaves a file findCoreFiles
 * finds in its working directory. That needs core_pattern to be a plain file name ('core' or
 * 'core.%p'; not a '|program' pipe, not a path elsewhere) and a hard RLIMIT_CORE above 0.
 */
export function coreDumpSupport(): CoreDumpSupport {
  let pattern: string;
  try {
    pattern = fs.readFileSync(CORE_PATTERN, 'utf8').trim();
  } catch (error) {
    return { supported: false, reason: `cannot read ${CORE_PATTERN}: ${(error as Error).message}` };
  }
  if (pattern === '') return { supported: false, reason: `${CORE_PATTERN} is empty: the kernel writes no core files` };
  if (pattern.startsWith('|')) {
    return { supported: false, reason: `core_pattern pipes cores to a program (${pattern}), not to a file a test can find` };
  }
  if (pattern !== 'core' && pattern !== 'core.%p') {
    return {
      supported: false,
      reason: `core_pattern is '${pattern}': findCoreFiles only finds 'core' or 'core.<pid>' in the crashing process's working directory`,
    };
  }
  if (hardCoreLimit() === '0') {
    return { supported: false, reason: 'the hard RLIMIT_CORE of this process is 0, so a child cannot raise it' };
  }
  return { supported: true, reason: `core_pattern is '${pattern}': cores are written to the crashing process's working directory` };
}

/** Paths of the files named 'core' or 'core.<digits>' directly in dir, sorted. */
export function findCoreFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((entry) => entry.isFile() && CORE_NAME.test(entry.name))
    .map((entry) => path.join(dir, entry.name))
    .sort();
}

/** Whether the file contains marker anywhere; streams, so multi-GiB (sparse) files are fine. */
export async function fileContains(file: string, marker: Uint8Array): Promise<boolean> {
  validateMarker(marker, 'fileContains');
  const handle = await fs.promises.open(file, 'r');
  try {
    let found = false;
    await searchChunks(async (buffer, position) => (await handle.read(buffer, 0, buffer.length, Number(position))).bytesRead, marker, {
      chunkSize: FILE_CHUNK_SIZE,
      onMatch: () => {
        found = true;
        return true;
      },
    });
    return found;
  } finally {
    await handle.close();
  }
}
