// Leaving the process without leaving secrets behind (memguard's SafeExit, SafePanic
// and CatchInterrupt):
//
//   safeExit(code)       purge(), then process.exit(code)
//   safePanic(error)     purge(), print the error without its message (it may carry
//                        secret content; StrongroomError messages never do), exit 1
//   catchSignals(opts)   on SIGINT/SIGTERM/SIGHUP: purge(), the handler, exit 128+signo;
//                        or, with { purge: 'last' }, the handler first (a server
//                        draining its requests still needs its secrets), then purge()
//                        and exit, forced by a second signal or the timeout; optionally
//                        purge when an uncaught exception or unhandled rejection is
//                        about to end the process
import { constants } from 'node:os';

import { isStrongroomError, StrongroomError } from '@strongroom/core-native';
import {
  checkArgs,
  checkBoolean,
  checkFunction,
  checkInteger,
  checkOneOf,
  checkOptions,
  describe,
  invalid,
} from '@strongroom/core-native/validate';

import { purge } from './purge.js';

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

// Purges, and on the impossible failure still lets the caller go on to exit.
function purgeBeforeExit(): void {
  try {
    purge();
  } catch (error) {
    say(`strongroom: purge failed before exit (${isStrongroomError(error) ? error.code : 'unexpected error'})`);
  }
}

/** Purges, then exits with `code` (default 0). */
export function safeExit(code = 0): never {
  checkArgs(arguments.length, 1, 'safeExit()');
  checkInteger(code, 'the exit code of safeExit()', 0, 255);
  purgeBeforeExit();
  process.exit(code);
}

// Reads a property without letting a getter's exception escape.
function read(error: Error, key: 'stack' | 'message' | 'name' | 'code'): unknown {
  try {
    return (error as unknown as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

// The stack frames of an error, without its message: only when the stack starts with
// the header V8 wrote ("Name: message"), so that no line of the message (which may itself
// look like a frame) is ever taken for one. Otherwise no frames.
function framesOf(error: Error): string[] {
  const stack = read(error, 'stack');
  const message = read(error, 'message');
  const name = read(error, 'name');
  if (typeof stack !== 'string' || typeof message !== 'string' || typeof name !== 'string') return [];
  const header = message === '' ? name : `${name}: ${message}`;
  if (!stack.startsWith(`${header}\n`)) return [];
  return stack
    .slice(header.length + 1)
    .split('\n')
    .filter((line) => /^\s+at /.test(line));
}

/**
 * A description of an error that is safe to print: its name, code and stack frames,
 * not its message (unless it is a StrongroomError, whose messages never hold secrets).
 * Never throws.
 */
export function describeSafely(error: unknown): string {
  if (!(error instanceof Error)) return `a thrown ${error === null ? 'null' : typeof error} (value withheld)`;
  const name = read(error, 'name');
  const code = read(error, 'code');
  const label = typeof name === 'string' ? name : 'Error';
  const head =
    error instanceof StrongroomError
      ? `${label} [${error.code}]: ${String(read(error, 'message'))}`
      : `${label}${typeof code === 'string' ? ` [${code}]` : ''} (message withheld: it may hold secret content)`;
  return [head, ...framesOf(error)].join('\n');
}

/** Purges, prints the error without secret content to stderr, and exits with code 1. */
export function safePanic(error: unknown): never {
  purgeBeforeExit();
  say(`strongroom: panic: ${describeSafely(error)}`);
  process.exit(1);
}

export interface CatchSignalsOptions {
  /** Default ['SIGINT', 'SIGTERM', 'SIGHUP']. */
  signals?: readonly NodeJS.Signals[];
  /** Called after the purge, before exiting; may return a promise (awaited). */
  handler?: (signal: NodeJS.Signals) => void | Promise<void>;
  /** Also purge when an uncaught exception or unhandled rejection is about to end the process. */
  purgeOnUncaught?: boolean;
  /**
   * 'first' (default): purge, then run the handler. 'last': run the handler first (it can
   * still open secrets, e.g. to finish in-flight requests), then purge; a second signal or
   * the timeout purges and exits without waiting for it.
   */
  purge?: 'first' | 'last';
  /** The most milliseconds the handler may take before the purge and exit are forced (default: no limit). */
  timeout?: number;
}

const DEFAULT_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
// The longest timeout a timer honours (setTimeout's own limit, about 24.8 days).
const MAX_TIMEOUT = 2 ** 31 - 1;
const UNCATCHABLE = new Set(['SIGKILL', 'SIGSTOP']);

function checkSignals(signals: unknown): NodeJS.Signals[] {
  if (!Array.isArray(signals) || signals.length === 0) throw invalid('signals must be a non-empty array of signal names');
  for (const signal of signals) {
    if (typeof signal !== 'string' || !(signal in constants.signals)) {
      throw invalid(`signals must be signal names such as 'SIGTERM', got ${typeof signal === 'string' ? `'${signal}'` : describe(signal)}`);
    }
    if (UNCATCHABLE.has(signal)) throw invalid(`${signal} cannot be caught by any process`);
  }
  return [...new Set(signals as NodeJS.Signals[])];
}

function exitCodeOf(signal: NodeJS.Signals): number {
  return 128 + constants.signals[signal];
}

/**
 * Purges and exits on the given signals (exit code 128 + the signal's number, as a
 * shell reports a death by that signal), running `handler` in between. A second signal
 * while the handler runs exits at once. Returns a function that removes every listener.
 */
export function catchSignals(options?: CatchSignalsOptions): () => void {
  checkArgs(arguments.length, 1, 'catchSignals()');
  const given = checkOptions(options, 'catchSignals()', ['signals', 'handler', 'purgeOnUncaught', 'purge', 'timeout']);
  const signals = checkSignals(given.signals ?? DEFAULT_SIGNALS);
  const handler =
    given.handler === undefined ? undefined : checkFunction<NonNullable<CatchSignalsOptions['handler']>>(given.handler, 'handler');
  const purgeOnUncaught = given.purgeOnUncaught === undefined ? false : checkBoolean(given.purgeOnUncaught, 'purgeOnUncaught');
  const purgeLast = given.purge === undefined ? false : checkOneOf(given.purge, 'purge', ['first', 'last'] as const) === 'last';
  const timeout = given.timeout === undefined ? undefined : checkInteger(given.timeout, 'timeout', 1, MAX_TIMEOUT);

  let exiting = false;
  const finish = (code: number): never => {
    if (purgeLast) purgeBeforeExit();
    process.exit(code);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    const code = exitCodeOf(signal);
    if (exiting) finish(code);
    exiting = true;
    if (!purgeLast) purgeBeforeExit();
    if (timeout !== undefined) setTimeout(() => finish(code), timeout).unref();
    let pending: unknown;
    try {
      pending = handler?.(signal);
    } catch (error) {
      say(`strongroom: the signal handler threw: ${describeSafely(error)}`);
    }
    if (pending instanceof Promise) {
      pending.then(
        () => finish(code),
        (error: unknown) => {
          say(`strongroom: the signal handler failed: ${describeSafely(error)}`);
          finish(code);
        },
      );
    } else {
      finish(code);
    }
  };
  // Only when nothing else handles it, i.e. when the process is about to die.
  const onUncaught = (): void => {
    if (process.listenerCount('uncaughtException') === 0) purgeBeforeExit();
  };

  for (const signal of signals) process.on(signal, onSignal);
  if (purgeOnUncaught) process.on('uncaughtExceptionMonitor', onUncaught);
  return () => {
    for (const signal of signals) process.off(signal, onSignal);
    process.off('uncaughtExceptionMonitor', onUncaught);
  };
}
