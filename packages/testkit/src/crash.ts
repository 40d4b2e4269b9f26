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

/** Runs code in a child and resolves if it died by (one of) the expected signal(s). */
export async function expectCrash(
  code: string,
  options: ChildOptions & { signal: CrashSignal | CrashSignal[] },
): Promise<CrashResult> {
  const { signal, ...childOptions } = options;
  const expected: readonly string[] = Array.isArray(signal) ? signal : [signal];
  if (expected.length === 0 || !expected.every((name) => CRASH_SIGNALS.has(name))) {
    throw new RangeError(`expectCrash: signal must be one or more of ${[...CRASH_SIGNALS].join(', ')}, got ${String(signal)}`);
  }
  const result = await runNode(code, { ...childOptions, coreLimit: 'off' });
  if (result.signal !== null && expected.includes(result.signal)) {
    return { signal: result.signal, stdout: result.stdout, stderr: result.stderr };
  }
  const wanted = expected.length === 1 ? String(expected[0]) : `one of ${expected.join(', ')}`;
  throw new Error(`expectCrash: expected the child to die by ${wanted}, but it ${describeExit(result)}\n${stderrExcerpt(result.stderr)}`);
}
