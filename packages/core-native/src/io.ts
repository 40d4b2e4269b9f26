// Reading secrets in: from a file, a file descriptor, an environment variable, or a
// terminal prompt with echo off, straight into a guarded region. Native code moves the
// bytes from read(2) or the C environment into guarded pages: they never pass through a
// JS string or Buffer. Each returns a 'readwrite' Region of exactly the bytes read; on
// any failure no region survives and a descriptor opened here is closed.
import { native } from './binding.js';
import { constants } from './constants.js';
import { StrongroomError } from './errors.js';
import {
  MAX_REGION_SIZE,
  resolveAllocation,
  wrapHandle,
  type AllocateOptions,
  type Allocation,
  type Region,
} from './region.js';
import type { NativeRegion } from './types.js';
import {
  checkArgs,
  checkBoolean,
  checkFileRules,
  checkInteger,
  checkOptions,
  checkText,
  invalid,
  READ_ENV_KEYS,
  READ_FD_KEYS,
  READ_FILE_KEYS,
  READ_KEYS,
} from './validate.js';

export interface ReadOptions extends AllocateOptions {
  /** The most bytes accepted (more is ERR_TOO_LARGE): 1 to MAX_REGION_SIZE, default 64 KiB. */
  maxSize?: number;
}

export interface ReadFileOptions extends ReadOptions {
  /**
   * The uid the file must belong to (for example `process.getuid()`), else ERR_UNSAFE_FILE
   * before a byte is read. Checked on the descriptor opened, not on the path.
   */
  owner?: number;
  /**
   * The permission bits the file may have (for example `0o600` or `0o400`); a file with any
   * other bit of `mode & 0o7777` set is ERR_UNSAFE_FILE before a byte is read. Checked on the
   * descriptor opened, not on the path.
   */
  maxMode?: number;
}

export interface ReadFdOptions extends ReadOptions {
  /** Stop at this byte (0-255), which is consumed but not kept; nothing after it is read. */
  until?: number;
}

export interface ReadEnvOptions extends AllocateOptions {
  /** Wipe the value in the process environment and unset the variable (default true). */
  remove?: boolean;
}

// process.stdin when it exists and reads fd 0 from the event loop (a pipe or a terminal: a
// flowing stream is an active handle), found without touching process.stdin: creating it
// would put a piped fd 0 in non-blocking mode for good, which a child process inheriting
// it would then meet.
interface StdinStream {
  readableFlowing: boolean | null;
  readableLength: number;
  pause(): void;
  resume(): void;
}

function stdinReading(): StdinStream | undefined {
  const active = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles?.() ?? [];
  return active.find((handle): handle is StdinStream => {
    const stream = handle as Partial<StdinStream> & { fd?: unknown };
    return stream?.fd === 0 && typeof stream.pause === 'function' && stream.readableFlowing === true;
  });
}

/** The default maxSize: 64 KiB. */
export const DEFAULT_MAX_SIZE = 64 * 1024;

function readSettings(options: unknown, fn: string, keys: readonly string[] = READ_KEYS) {
  const given = checkOptions(options, fn, keys);
  const maxSize =
    given.maxSize === undefined ? DEFAULT_MAX_SIZE : checkInteger(given.maxSize, 'maxSize', 1, MAX_REGION_SIZE);
  return { given, maxSize, ...resolveAllocation(given) };
}

function wrap(handle: NativeRegion, allocation: Allocation): Region {
  return wrapHandle(handle, native().regionSize(handle), allocation);
}

/**
 * The contents of a file. A regular file larger than maxSize fails with ERR_TOO_LARGE
 * before a byte is read. ERR_NOT_FOUND when it does not exist, ERR_EMPTY when it is
 * empty, ERR_IO for any other failure (permission denied, a directory, ...). With `owner`
 * or `maxMode`, a file of another owner or with wider permissions is ERR_UNSAFE_FILE, judged
 * by fstat(2) on the descriptor that is then read: a file swapped in after a check by path
 * cannot slip through.
 */
export function readFile(path: string, options?: ReadFileOptions): Region {
  checkArgs(arguments.length, 2, 'readFile()');
  const file = checkText(path, 'path');
  const settings = readSettings(options, 'readFile()', READ_FILE_KEYS);
  const { owner, maxMode } = checkFileRules(settings.given);
  return wrap(native().readFile(file, settings.maxSize, settings.backendCode, settings.mlockCode, owner, maxMode), settings);
}

/**
 * Everything an open descriptor gives until its end (or until the `until` byte), read
 * straight into guarded memory: a pipe, a socket, a file, a terminal. A non-blocking
 * descriptor (Node makes stdin one) is waited on. The descriptor is not closed.
 */
export function readFd(fd: number, options?: ReadFdOptions): Region {
  checkArgs(arguments.length, 2, 'readFd()');
  checkInteger(fd, 'fd', 0, constants().maxFd);
  if (fd === 0 && stdinReading() !== undefined) {
    throw new StrongroomError(
      'ERR_BUSY',
      'process.stdin is reading fd 0 (it flows): readFd(0) would miss what it takes. ' +
        'Read the secret with readFd(0) before anything listens to process.stdin, or take it from process.stdin itself',
    );
  }
  const settings = readSettings(options, 'readFd()', READ_FD_KEYS);
  const until = settings.given.until === undefined ? -1 : checkInteger(settings.given.until, 'until', 0, 255);
  const { maxSize, backendCode, mlockCode } = settings;
  return wrap(native().readFd(fd, maxSize, until, backendCode, mlockCode), settings);
}

/**
 * The value of an environment variable (its bytes, not decoded). With `remove` (the
 * default) the value is overwritten with zeros in the process environment and the
 * variable is unset, so process.env[name] is undefined afterwards. A copy that JS made
 * before (anything that read process.env[name]) is a JS string and cannot be wiped; so are
 * the copies a Worker, a child_process call or --env-file made (warned once for --env-file).
 */
let warnedEnvFile = false;

export function readEnv(name: string, options?: ReadEnvOptions): Region {
  checkArgs(arguments.length, 2, 'readEnv()');
  if (!warnedEnvFile && process.execArgv.some((flag) => /^--env-file(-if-exists)?(=|$)/.test(flag))) {
    warnedEnvFile = true;
    process.emitWarning(
      'this process was started with --env-file: Node read that file into JS strings, which strongroom cannot wipe; ' +
        'readEnv() removes the variable from the environment, not those copies. Keep secrets out of --env-file ' +
        '(read them from a file with readFile, or from the environment set by the service manager).',
      { code: 'STRONGROOM_ENV_FILE' },
    );
  }
  const variable = checkText(name, 'an environment variable name', '=');
  const given = checkOptions(options, 'readEnv()', READ_ENV_KEYS);
  const remove = given.remove === undefined ? true : checkBoolean(given.remove, 'remove');
  const allocation = resolveAllocation(given);
  return wrap(native().readEnv(variable, remove, allocation.backendCode, allocation.mlockCode), allocation);
}

/**
 * Prompts on the terminal and reads one line with echo off (the newline, and a
 * carriage return before it, are not kept). Standard input must be a terminal
 * (ERR_NOT_A_TTY otherwise: read piped input with readFd(0, { until: 10 })). The
 * terminal's settings are restored on every path; the read runs off the JS thread.
 */
export async function promptSecret(message: string, options?: ReadOptions): Promise<Region> {
  checkArgs(arguments.length, 2, 'promptSecret()');
  if (typeof message !== 'string') throw invalid('the prompt message must be a string');
  const settings = readSettings(options, 'promptSecret()');
  // process.stdin (readline, a 'data' listener) reads the same terminal from the main
  // thread: it is paused while the prompt reads, so that no part of the line reaches it.
  const stdin = stdinReading();
  stdin?.pause();
  try {
    return wrap(await native().promptSecret(message, settings.maxSize, settings.backendCode, settings.mlockCode), settings);
  } finally {
    stdin?.resume();
  }
}
