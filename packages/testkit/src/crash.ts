// Crash assertions: memory-safety violations must end the process (docs/ARCHITECTURE.md, invariant 6), and the
// only safe place to watch that happen is a child process. expectCrash runs a snippet with core
// dumps off (always, whatever coreLimit says: a crashing test must never leave a large core file)
// and checks the signal; when it fails, the message says what happened instead and shows stderr.

import { describeExit, runNode, stderrExcerpt, type ChildOptions } from './child.js';

export type CrashSignal = 'SIGSEGV' | 'SIGBUS' | 'SIGABRT' | 'SIGILL' | 'SIGFPE' | 'SIGTRAP' | 'SIGKILL';

export interface CrashResult {
  signal: NodeJS.Signals;
  stdout: string;
  stderr: string;
}

const CRASH_SIGNALS: ReadonlySet<string> = new Set<CrashSignal>(['SIGSEGV', 'SIGBUS', 'SIGABRT', 'SIGILL', 'SIGFPE', 'SIGTRAP', 'SIGKILL']);

/** The signals a crash may be expected to end with, validated; throws a RangeError naming `caller`. */
export function expectedSignals(signal: unknown, caller: string): readonly string[] {
  const expected: readonly unknown[] = Array.isArray(signal) ? signal : [signal];
  if (expected.length === 0 || !expected.every((name) => typeof name === 'string' && CRASH_SIGNALS.has(name))) {
    throw new RangeError(`${caller}: signal must be one or more of ${[...CRASH_SIGNALS].join(', ')}, got ${String(signal)}`);
  }
  return expected as readonly string[];
}

/** "SIGSEGV" or "one of SIGSEGV, SIGBUS". */
export function describeSignals(expected: readonly string[]): string {
  return expected.length === 1 ? String(expected[0]) : `one of ${expected.join(', ')}`;
}

/** Runs code in a child and resolves if it died by (one of) the expected signal(s). */
export async function expectCrash(
  code: string,
  options: ChildOptions & { signal: CrashSignal | CrashSignal[] },
): Promise<CrashResult> {
  const { signal, ...childOptions } = options;
  const expected = expectedSignals(signal, 'expectCrash');
  const result = await runNode(code, { ...childOptions, coreLimit: 'off' });
  if (result.signal !== null && expected.includes(result.signal)) {
    return { signal: result.signal, stdout: result.stdout, stderr: result.stderr };
  }
  const how = `expected the child to die by ${describeSignals(expected)}, but it ${describeExit(result)}`;
  throw new Error(`expectCrash: ${how}\n${stderrExcerpt(result.stderr)}`);
}
