// Small counters over /proc: open file descriptors and memory mappings of a process.
// Leak tests take a count before and after an operation; the readers here must not
// disturb what they count, so the directory descriptor that readdir itself opens on
// /proc/PID/fd is filtered out (it is closed again by the time we check each entry).
// The pid helpers are shared with the scanner.

import fs from 'node:fs';

export type ProcTarget = number | 'self';

/** Validates a pid argument and returns the /proc directory name for it. */
export function procId(pid: ProcTarget, caller: string): string {
  if (pid === 'self') return 'self';
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new RangeError(`${caller}: pid must be a positive integer or 'self', got ${String(pid)}`);
  }
  return String(pid);
}

export function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') return error.code;
  return undefined;
}

/** Reads a /proc file, turning a vanished process into an Error that names it. */
export function readProcText(file: string, caller: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (errnoCode(error) === 'ENOENT' || errnoCode(error) === 'ESRCH') {
      throw new Error(`${caller}: ${file} does not exist (no such process, or it has exited)`, { cause: error });
    }
    throw new Error(`${caller}: cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/** Descriptor numbers open in the process, ascending (from /proc/PID/fd). */
export function openFileDescriptors(pid: ProcTarget = 'self'): number[] {
  const dir = `/proc/${procId(pid, 'openFileDescriptors')}/fd`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    throw new Error(`openFileDescriptors: cannot list ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const open: number[] = [];
  for (const name of names) {
    try {
      // Gone by now: the descriptor readdir used for the listing, or one closed meanwhile.
      fs.readlinkSync(`${dir}/${name}`);
    } catch {
      continue;
    }
    open.push(Number(name));
  }
  return open.sort((a, b) => a - b);
}

/** Number of lines in /proc/PID/maps, i.e. the number of memory mappings. */
export function countMappings(pid: ProcTarget = 'self'): number {
  const file = `/proc/${procId(pid, 'countMappings')}/maps`;
  return readProcText(file, 'countMappings').split('\n').filter((line) => line !== '').length;
}

/**
 * How many bytes this process may lock: Infinity with CAP_IPC_LOCK in effect (root,
 * usually), else the soft RLIMIT_MEMLOCK. For tests that need more locked memory than an
 * ordinary user's 8 MiB, to skip with a reason where they cannot run.
 */
export function lockableMemory(): number {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const effective = /^CapEff:\s+([0-9a-f]+)/m.exec(status)?.[1];
  const CAP_IPC_LOCK = 14n;
  if (effective !== undefined && (BigInt(`0x${effective}`) >> CAP_IPC_LOCK) & 1n) return Number.POSITIVE_INFINITY;
  const line = /^Max locked memory\s+(\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1];
  return line === undefined || line === 'unlimited' ? Number.POSITIVE_INFINITY : Number(line);
}
