// Matchers for vitest (or any expect with jest's extend contract), built on testkit's helpers:
// plain functions that return { pass, message }, so testkit still imports no test framework.
//
//   import { strongroomMatchers } from '@strongroom/testkit';
//   import '@strongroom/testkit/vitest'; // the types: expect(x).toCrashWith(...) type-checks
//   expect.extend(strongroomMatchers);
//
// Each message says what happened in both directions: why the assertion failed, and for
// `.not`, why it passed. A measurement that cannot decide (a scan that read almost nothing,
// snapshots of two processes, a bad argument) throws instead, so that neither `expect(...)`
// nor `expect(...).not` passes on it.

import { compareBaselines, describeChange, type Baseline, type BaselineTolerance } from './baseline.js';
import { describeExit, runNode, stderrExcerpt, type ChildOptions, type ChildResult } from './child.js';
import { describeSignals, expectedSignals, type CrashSignal } from './crash.js';
import { describeMatches, MIN_SCANNED_BYTES, times } from './residue.js';
import { validateMarker, type ScanResult } from './scan.js';

/** What a matcher returns: jest's and vitest's contract. */
export interface MatcherResult {
  pass: boolean;
  /** The failure message: for `expect(...)` when pass is false, for `expect(...).not` when it is true. */
  message: () => string;
  actual?: unknown;
  expected?: unknown;
}

/** A crash signal, or 'abort' for SIGABRT. */
export type CrashSignalName = CrashSignal | 'abort';

/** What toCrashWith accepts: a snippet to run, a finished child, or one still running. */
export type CrashSubject = string | ChildResult | PromiseLike<ChildResult> | { readonly exited: PromiseLike<ChildResult> };

/** What toLeaveNoResidue scans: a ChildHandle from startChild (its scan() stops the child while it reads). */
export interface ScannableChild {
  readonly pid: number;
  scan(marker: Uint8Array): Promise<ScanResult>;
}

function isChildResult(value: unknown): value is ChildResult {
  return typeof value === 'object' && value !== null && 'code' in value && 'signal' in value;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

async function childResultOf(received: unknown, options: ChildOptions | undefined): Promise<{ result: ChildResult; what: string }> {
  if (typeof received === 'string') {
    // As expectCrash: always with core dumps off, whatever coreLimit says.
    return { result: await runNode(received, { ...options, coreLimit: 'off' }), what: 'the snippet' };
  }
  if (options !== undefined) throw new TypeError('toCrashWith: options apply to a snippet only, not to a child that already ran');
  const settled = isThenable(received)
    ? await received
    : typeof received === 'object' && received !== null && isThenable((received as { exited?: unknown }).exited)
      ? await (received as { exited: PromiseLike<unknown> }).exited
      : received;
  if (!isChildResult(settled)) {
    throw new TypeError('toCrashWith: expected a code snippet, a ChildResult ({ code, signal, ... }), a ChildHandle, or a promise of a ChildResult');
  }
  const pid = typeof (received as { pid?: unknown }).pid === 'number' ? ` ${(received as { pid: number }).pid}` : '';
  return { result: settled, what: `the child${pid}` };
}

/**
 * `await expect(codeOrChild).toCrashWith(signal, options?)`: passes when the child died by the
 * signal (or by one of an array of them; 'abort' is SIGABRT). A string is run as an ES module
 * snippet in a fresh node, like expectCrash (core dumps always off; `options` as for runNode);
 * a ChildResult is judged as it is; a ChildHandle or a promise is awaited first.
 */
export async function toCrashWith(received: unknown, signal: CrashSignalName | readonly CrashSignalName[], options?: ChildOptions): Promise<MatcherResult> {
  const names = (Array.isArray(signal) ? signal : [signal]).map((name: unknown) => (name === 'abort' ? 'SIGABRT' : name));
  const expected = expectedSignals(Array.isArray(signal) ? names : names[0], 'toCrashWith');
  const { result, what } = await childResultOf(received, options);
  const pass = result.signal !== null && expected.includes(result.signal);
  const wanted = describeSignals(expected);
  return {
    pass,
    message: () =>
      pass
        ? `expected ${what} not to die by ${wanted}, but it ${describeExit(result)}\n${stderrExcerpt(result.stderr)}`
        : `expected ${what} to die by ${wanted}, but it ${describeExit(result)}\n${stderrExcerpt(result.stderr)}`,
    actual: result.signal ?? `exit code ${String(result.code)}`,
    expected: expected.length === 1 ? expected[0] : expected,
  };
}

/**
 * `await expect(child).toLeaveNoResidue(marker)`: scans a live child from startChild (stopped
 * while it is read) and passes when the marker is nowhere in its memory; the message lists
 * where it was found. A scan that found nothing but read less than MIN_SCANNED_BYTES proves
 * nothing and throws. `.not.toLeaveNoResidue(marker)` is the positive control.
 */
export async function toLeaveNoResidue(received: unknown, marker: Uint8Array): Promise<MatcherResult> {
  const child = received as Partial<ScannableChild> | null;
  if (typeof child !== 'object' || child === null || typeof child.scan !== 'function') {
    throw new TypeError('toLeaveNoResidue: expected a live child from startChild() (something with scan(marker))');
  }
  validateMarker(marker, 'toLeaveNoResidue');
  const found = await child.scan(marker);
  const { matches, scannedBytes, scannedMappings } = found;
  if (matches.length === 0 && scannedBytes <= MIN_SCANNED_BYTES) {
    throw new Error(`toLeaveNoResidue: the scan read only ${scannedBytes} bytes (${scannedMappings} mappings): too little to show that the marker is absent`);
  }
  const who = typeof child.pid === 'number' ? `child ${child.pid}` : 'the child';
  const pass = matches.length === 0;
  return {
    pass,
    message: () =>
      pass
        ? `expected the marker in the memory of ${who} (a positive control), found none in ${scannedMappings} mappings (${scannedBytes} bytes)`
        : `expected no copy of the marker in the memory of ${who}, found ${times(matches.length)}: ${describeMatches(matches)}`,
    actual: matches.length,
    expected: 0,
  };
}

/**
 * `expect(after).toRestoreBaseline(before, tolerance?)`: both snapshots from baseline(); passes
 * when every figure is back where it was, within its tolerance (default 0: exactly; the
 * descriptors as a set). The message shows each figure that moved, descriptors by name.
 */
export function toRestoreBaseline(received: unknown, before: Baseline, tolerance?: BaselineTolerance): MatcherResult {
  const changes = compareBaselines(before, received, tolerance, 'toRestoreBaseline');
  const moved = changes.filter((change) => change.moved);
  const pid = (before as { pid: number }).pid;
  const pass = moved.length === 0;
  return {
    pass,
    message: () =>
      pass
        ? `expected some figure of pid ${pid} to move from its baseline, but every one is back: ${changes.map(describeChange).join(', ')}`
        : [
            `expected pid ${pid} to be back at its baseline, but ${moved.length} of ${changes.length} figures moved:`,
            ...moved.map((change) => `  ${describeChange(change)}`),
            `back: ${changes.filter((change) => !change.moved).map(describeChange).join(', ') || 'none'}`,
          ].join('\n'),
    actual: Object.fromEntries(moved.map((change) => [change.figure, change.after])),
    expected: Object.fromEntries(moved.map((change) => [change.figure, change.before])),
  };
}

/** The three matchers, for `expect.extend(strongroomMatchers)`. */
export const strongroomMatchers = { toCrashWith, toLeaveNoResidue, toRestoreBaseline };

/**
 * The matchers as methods of an assertion, for a type augmentation of your test framework's
 * Matchers interface (`import '@strongroom/testkit/vitest'` does it for vitest).
 */
export interface StrongroomMatchers {
  /** Passes when the snippet, ChildResult or ChildHandle died by the signal ('abort': SIGABRT). Await it. */
  toCrashWith(signal: CrashSignalName | readonly CrashSignalName[], options?: ChildOptions): Promise<void>;
  /** Passes when a scan of the live child finds the marker nowhere. Await it. */
  toLeaveNoResidue(marker: Uint8Array): Promise<void>;
  /** Passes when this baseline() snapshot has every figure of `before` back, within `tolerance`. */
  toRestoreBaseline(before: Baseline, tolerance?: BaselineTolerance): void;
}
