// Reading secrets in: readFile, readFd, readEnv and promptSecret. Round trips and exact
// sizes, the maxSize boundary, every error code, descriptors and regions left behind
// (none), pipes that need growth or are non-blocking, a delimiter that leaves the rest
// of a pipe unread, residue scans of child processes, and a real pseudo-terminal.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import {
  asyncErrorCode,
  baseline,
  bytesOf,
  errorCode,
  expectResidue,
  faultsEnv,
  faultsPreamble,
  makeMarker,
  openFileDescriptors,
  runNode,
  startChild,
  startTerminal,
  strongroomMatchers,
  terminalSupport,
  textMarker,
  type ScanResult,
} from '@strongroom/testkit';
import '@strongroom/testkit/vitest';

import {
  equals,
  MAX_REGION_SIZE,
  promptSecret,
  readEnv,
  readFd,
  readFile,
  stats,
  StrongroomError,
  type Region,
} from '../src/index.js';
import { BACKENDS, CHILD, PACKAGE_DIR, plantMarker, PREAMBLE, SECRETMEM, SECRETMEM_SKIP_REASON } from './helpers.js';

expect.extend(strongroomMatchers);

const ROOT = process.getuid?.() === 0;
const PAGE_START = 4096 - 16; // the first region of an unknown length: one page, canary included
const DIST = new URL('../dist/index.js', import.meta.url).href;

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-io-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let counter = 0;

function tempFile(content: Uint8Array | string): string {
  const file = path.join(dir, `file-${++counter}`);
  fs.writeFileSync(file, content);
  return file;
}

/** Bytes 0-255 in a pattern, zeros included. */
function pattern(length: number): Buffer {
  const bytes = Buffer.alloc(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7 + (i >> 8)) & 255;
  return bytes;
}

/** A region's bytes as text. */
function textOf(region: Region): string {
  return Buffer.from(bytesOf(region)).toString();
}

function errorOf(fn: () => unknown): StrongroomError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(StrongroomError);
    return error as StrongroomError;
  }
  throw new Error('expected a StrongroomError, nothing was thrown');
}

/** This process's descriptors, threads, live regions and their locked bytes. */
function holdings() {
  const { regions, bytesLocked } = stats();
  return baseline('self', { regions, bytesLocked });
}

/**
 * Runs fn and checks it left no descriptor open, no region alive and no byte locked (nor a
 * thread). Mappings move with the JS heap, VmLck with the spare regions a free() keeps.
 */
function leavesNothing<T>(fn: () => T): T {
  const before = holdings();
  const result = fn();
  expect(holdings()).toRestoreBaseline(before, { mappings: Infinity, vmLck: Infinity });
  return result;
}

/** The addresses of a scan's matches. */
function addresses(found: ScanResult): bigint[] {
  return found.matches.map((m) => m.address);
}

/** A FIFO holding `content` (under 64 KiB, the pipe's capacity) whose writer is closed: reads give the content, then the end. */
function filledFifo(content: Uint8Array | string): number {
  const fifo = path.join(dir, `fifo-${++counter}`);
  execFileSync('mkfifo', [fifo]);
  // O_NONBLOCK: opening the read end does not wait for a writer (so the reads may get EAGAIN).
  const reader = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const writer = fs.openSync(fifo, 'w');
  fs.writeSync(writer, typeof content === 'string' ? Buffer.from(content) : content);
  fs.closeSync(writer);
  return reader;
}

interface Piped {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs an ES module snippet in a fresh node from the package folder with stdin a pipe;
 * `feed` writes to it (given a way to wait for the child's output) and ends it.
 * `prefix` runs node through a wrapper (setpriv).
 */
function runPiped(
  code: string,
  feed: (stdin: NodeJS.WritableStream, output: (text: string) => Promise<void>) => Promise<void> | void,
  prefix: string[] = [],
): Promise<Piped> {
  const [file, ...args] = [...prefix, process.execPath, '--input-type=module', '-e', code];
  const child = spawn(file!, args, { cwd: PACKAGE_DIR, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiting: Array<{ text: string; resolve: () => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const waiter of waiting.filter((w) => stdout.includes(w.text))) {
      waiting.splice(waiting.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdin.on('error', () => undefined); // EPIPE when the child stops reading early
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const output = (text: string) =>
    stdout.includes(text) ? Promise.resolve() : new Promise<void>((resolve) => waiting.push({ text, resolve }));
  const done = new Promise<Piped>((resolve) =>
    child.once('close', (exitCode, signal) => {
      clearTimeout(timer);
      resolve({ code: exitCode, signal, stdout, stderr });
    }),
  );
  return Promise.resolve(feed(child.stdin, output)).then(() => done);
}

function feedAll(content: Uint8Array | string) {
  return (stdin: NodeJS.WritableStream) => {
    stdin.end(content);
  };
}

describe('readFile', () => {
  describe.each(BACKENDS)('$backend backend', ({ backend, available }) => {
    const test = available ? it : it.skip;

    test('gives a readwrite region of exactly the file, binary bytes included', () => {
      const content = pattern(5000);
      const file = tempFile(content);
      const fds = openFileDescriptors('self');
      const region = readFile(file, { backend });
      expect(openFileDescriptors('self')).toEqual(fds);
      expect(region.size).toBe(5000);
      expect(region.backend).toBe(backend);
      expect(region.protection).toBe('readwrite');
      expect(equals(region, content)).toBe(true);
      expect(equals(region, pattern(4999))).toBe(false);
      region.free();
    });
  });

  it('maxSize is inclusive: a file of exactly maxSize bytes is read, one more is ERR_TOO_LARGE', () => {
    const file = tempFile(pattern(1000));
    const fds = openFileDescriptors('self');
    const region = readFile(file, { maxSize: 1000 });
    expect(openFileDescriptors('self')).toEqual(fds);
    expect(region.size).toBe(1000);
    region.free();
    const error = leavesNothing(() => errorOf(() => readFile(file, { maxSize: 999 })));
    expect(error.code).toBe('ERR_TOO_LARGE');
    expect(error.message).toContain('999');
  });

  it('the default maxSize is 64 KiB', () => {
    const exact = readFile(tempFile(pattern(65536)));
    expect(exact.size).toBe(65536);
    exact.free();
    expect(leavesNothing(() => errorCode(() => readFile(tempFile(pattern(65537)))))).toBe('ERR_TOO_LARGE');
  });

  it('a regular file over maxSize fails before a byte is read (rchar in /proc/self/io)', async () => {
    const file = tempFile(pattern(1 << 20));
    const result = await runPiped(
      `import * as sr from '@strongroom/core-native';
       import fs from 'node:fs';
       const rchar = () => Number(/rchar: (\\d+)/.exec(fs.readFileSync('/proc/self/io', 'utf8'))[1]);
       const before = rchar();
       let code;
       try { sr.readFile(${JSON.stringify(file)}, { maxSize: 4096 }); } catch (e) { code = e.code; }
       const read = rchar() - before;
       console.log(JSON.stringify({ code, read }));`,
      feedAll(''),
    );
    expect(result.stderr).toBe('');
    const { code, read } = JSON.parse(result.stdout);
    expect(code).toBe('ERR_TOO_LARGE');
    expect(read).toBeLessThan(4096); // only /proc/self/io itself
  });

  it('a file whose size fstat does not know (/proc) is read by growing', () => {
    const region = readFile('/proc/self/cmdline');
    expect(equals(region, fs.readFileSync('/proc/self/cmdline'))).toBe(true);
    region.free();
  });

  it('a missing file is ERR_NOT_FOUND, a directory ERR_IO, an empty file ERR_EMPTY; nothing is left open', () => {
    const missing = leavesNothing(() => errorOf(() => readFile(path.join(dir, 'no-such-file'))));
    expect(missing.code).toBe('ERR_NOT_FOUND');
    expect(missing.message).toContain('no-such-file');
    expect(leavesNothing(() => errorCode(() => readFile(path.join(dir, 'no-such-dir', 'file'))))).toBe('ERR_NOT_FOUND');
    const directory = leavesNothing(() => errorOf(() => readFile(dir)));
    expect(directory.code).toBe('ERR_IO');
    expect(directory.message).toMatch(/is a directory/i);
    expect(leavesNothing(() => errorCode(() => readFile(tempFile(''))))).toBe('ERR_EMPTY');
  });

  // Root reads any file (CAP_DAC_OVERRIDE): the child drops that capability to meet EACCES.
  it('an unreadable file is ERR_IO "permission denied", and no descriptor stays open', async () => {
    const file = tempFile('not for you');
    fs.chmodSync(file, 0o000);
    const prefix = ROOT ? ['setpriv', '--bounding-set=-dac_override,-dac_read_search', '--inh-caps=-dac_override,-dac_read_search'] : [];
    const result = await runPiped(
      `import * as sr from '@strongroom/core-native';
       import { openFileDescriptors } from '@strongroom/testkit';
       const fds = openFileDescriptors('self').length;
       const regions = sr.stats().regions;
       let error;
       try { sr.readFile(${JSON.stringify(file)}); } catch (e) { error = { code: e.code, message: e.message }; }
       console.log(JSON.stringify({ error, fds: openFileDescriptors('self').length - fds, regions: sr.stats().regions - regions }));`,
      feedAll(''),
      prefix,
    );
    expect(result.stderr).toBe('');
    const { error, fds, regions } = JSON.parse(result.stdout);
    expect(error.code).toBe('ERR_IO');
    expect(error.message).toContain('permission denied');
    expect([fds, regions]).toEqual([0, 0]);
  });

  it('no byte of the file appears in an error message', () => {
    const file = tempFile('hunter2-hunter2');
    expect(errorOf(() => readFile(file, { maxSize: 4 })).message).not.toContain('hunter');
  });

  it('rejects bad arguments with ERR_INVALID_ARG', () => {
    const file = tempFile('x');
    const regions = stats().regions;
    for (const bad of ['', 'a\0b', 42, undefined, Buffer.from('x')]) {
      expect(errorCode(() => readFile(bad as string))).toBe('ERR_INVALID_ARG');
    }
    for (const maxSize of [0, -1, 1.5, MAX_REGION_SIZE + 1, '10', Number.NaN]) {
      expect(errorCode(() => readFile(file, { maxSize: maxSize as number }))).toBe('ERR_INVALID_ARG');
    }
    expect(errorCode(() => readFile(file, { backend: 'heap' as never }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => readFile(file, 'mmap' as never))).toBe('ERR_INVALID_ARG');
    expect(stats().regions).toBe(regions);
  });

  describe('owner and maxMode: checked on the descriptor opened', () => {
    const uid = process.getuid!();

    /** A file of `mode` holding `content`. */
    function fileOfMode(mode: number, content = 'k3y-file-content'): string {
      const file = tempFile(content);
      fs.chmodSync(file, mode);
      return file;
    }

    it('a file within both rules is read', () => {
      const file = fileOfMode(0o600);
      for (const rules of [{ owner: uid }, { maxMode: 0o600 }, { owner: uid, maxMode: 0o600 }, { maxMode: 0o7777 }]) {
        const region = readFile(file, rules);
        expect(textOf(region)).toBe('k3y-file-content');
        region.free();
      }
      const readOnly = readFile(fileOfMode(0o400), { maxMode: 0o600 }); // fewer bits than allowed is fine
      expect(textOf(readOnly)).toBe('k3y-file-content');
      readOnly.free();
    });

    it('a mode wider than maxMode is ERR_UNSAFE_FILE, naming both modes and the chmod to run; nothing is left open', () => {
      for (const [mode, maxMode, fix] of [
        [0o644, 0o600, '0600'],
        [0o640, 0o600, '0600'],
        [0o600, 0o400, '0400'],
        [0o4600, 0o600, '0600'], // setuid is a bit too (and the mode reads 04600)
        [0o604, 0o640, '0600'],
      ] as const) {
        const file = fileOfMode(mode);
        const error = leavesNothing(() => errorOf(() => readFile(file, { maxMode })));
        expect(error.code).toBe('ERR_UNSAFE_FILE');
        const octal = (m: number) => `0${m.toString(8).padStart(3, '0')}`;
        expect(error.message).toContain(`has mode ${octal(mode)}, wider than the ${octal(maxMode)} allowed`);
        expect(error.message).toContain(`chmod ${fix} -- '${file}'`);
        expect(error.message).not.toContain('k3y');
      }
    });

    it('another owner is ERR_UNSAFE_FILE, naming both uids', () => {
      const file = fileOfMode(0o600);
      const other = uid === 0 ? 65534 : 0;
      const error = leavesNothing(() => errorOf(() => readFile(file, { owner: other, maxMode: 0o600 })));
      expect(error.code).toBe('ERR_UNSAFE_FILE');
      expect(error.message).toContain(`belongs to uid ${uid}, not to uid ${other}`);
      expect(error.message).not.toContain('k3y');
    });

    it('the file read is the file judged: a symbolic link (mode 0777 itself) is judged by what it opens', () => {
      const target = fileOfMode(0o644);
      const link = path.join(dir, `link-${++counter}`);
      fs.symlinkSync(target, link);
      expect(fs.lstatSync(link).mode & 0o777).toBe(0o777);
      expect(leavesNothing(() => errorCode(() => readFile(link, { maxMode: 0o600 })))).toBe('ERR_UNSAFE_FILE');
      fs.chmodSync(target, 0o600);
      const region = readFile(link, { maxMode: 0o600 });
      expect(textOf(region)).toBe('k3y-file-content');
      region.free();
    });

    it('a file replaced after a check by path is still caught: the rules follow the open, not an earlier stat', async () => {
      // The race a check by path loses: stat says 0600, then the file is replaced by a wider one
      // before the open. readFile judges whatever it opened, so the replacement is refused.
      const file = fileOfMode(0o600);
      expect(fs.statSync(file).mode & 0o777).toBe(0o600); // the caller's own check, by path
      const wider = fileOfMode(0o644, 'replacement');
      fs.renameSync(wider, file);
      expect(errorCode(() => readFile(file, { maxMode: 0o600 }))).toBe('ERR_UNSAFE_FILE');
    });

    it('the chmod to run names the path as one shell word, whatever it holds', () => {
      const odd = path.join(dir, `it's $(id) ${++counter}`);
      fs.writeFileSync(odd, 'k3y');
      fs.chmodSync(odd, 0o644);
      const error = errorOf(() => readFile(odd, { maxMode: 0o600 }));
      const quoted = `'${odd.replaceAll("'", "'\\''")}'`;
      expect(error.message).toContain(`chmod 0600 -- ${quoted}`);
      // what a shell makes of it: the one path, nothing run
      expect(execFileSync('sh', ['-c', `printf %s ${quoted}`], { encoding: 'utf8' })).toBe(odd);
    });

    it('with rules only a regular file is read: a directory is ERR_IO, a FIFO ERR_IO at once (no wait for a writer)', () => {
      expect(leavesNothing(() => errorOf(() => readFile(dir, { maxMode: 0o600 }))).message).toMatch(/is a directory/i);
      const fifo = path.join(dir, `fifo-${++counter}`);
      execFileSync('mkfifo', ['-m', '600', fifo]);
      // In a child with a deadline: an open that waited for a writer would hang this worker.
      const out = execFileSync(
        process.execPath,
        ['--input-type=module', '-e', `import * as sr from '@strongroom/core-native';
          try { sr.readFile(${JSON.stringify(fifo)}, { maxMode: 0o600 }); console.log('read'); }
          catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`],
        { cwd: PACKAGE_DIR, encoding: 'utf8', timeout: 20_000 },
      );
      const { code, message } = JSON.parse(out);
      expect(code).toBe('ERR_IO');
      expect(message).toContain('is not a regular file');
    });

    it('rejects bad rules with ERR_INVALID_ARG, and an unknown option too', () => {
      const file = fileOfMode(0o600);
      const regions = stats().regions;
      for (const owner of [-1, 1.5, 0xffffffff, '0', Number.NaN]) {
        expect(errorCode(() => readFile(file, { owner: owner as number }))).toBe('ERR_INVALID_ARG');
      }
      for (const maxMode of [-1, 0o10000, 1.5, '600', Number.NaN]) {
        expect(errorCode(() => readFile(file, { maxMode: maxMode as number }))).toBe('ERR_INVALID_ARG');
      }
      expect(errorCode(() => readFd(0, { maxMode: 0o600 } as never))).toBe('ERR_INVALID_ARG');
      expect(stats().regions).toBe(regions);
    });
  });
});

describe('readFd', () => {
  it('reads a pipe to its end into a region of exactly its length, across the growth steps', () => {
    const cases: Array<[number, number]> = [
      [PAGE_START, 1],
      [PAGE_START, PAGE_START], // fills the first region: the byte after it is the end
      [10_000, PAGE_START + 1], // grows once
      [10_000, 9_999],
      [10_000, 10_000], // grown up to maxSize exactly
      [60_000, 60_000],
    ];
    for (const [maxSize, length] of cases) {
      const fd = filledFifo(pattern(length));
      const { regions, bytesLocked } = stats();
      const region = readFd(fd, { maxSize, backend: 'mmap' });
      // Only the final region is left, and it is exact: the grown ones were freed.
      expect(stats().regions).toBe(regions + 1);
      expect(stats().bytesLocked - bytesLocked).toBe(Math.ceil((length + 16) / 4096) * 4096);
      expect(region.size).toBe(length);
      expect(region.protection).toBe('readwrite');
      expect(equals(region, pattern(length))).toBe(true);
      region.free();
      fs.closeSync(fd); // throws EBADF if readFd had closed it
    }
  });

  it('one byte more than maxSize is ERR_TOO_LARGE, and nothing survives', () => {
    for (const maxSize of [PAGE_START, 10_000]) {
      const fd = filledFifo(pattern(maxSize + 1));
      const error = leavesNothing(() => errorOf(() => readFd(fd, { maxSize })));
      expect(error.code).toBe('ERR_TOO_LARGE');
      fs.closeSync(fd);
    }
  });

  it('until stops at the delimiter, consumed but not kept; the end before one is fine', () => {
    const fd = filledFifo('first line\nsecond\nno newline');
    expect(textOf(readFd(fd, { until: 10 }))).toBe('first line');
    expect(textOf(readFd(fd, { until: 10 }))).toBe('second');
    expect(textOf(readFd(fd, { until: 10 }))).toBe('no newline');
    expect(leavesNothing(() => errorCode(() => readFd(fd, { until: 10 })))).toBe('ERR_EMPTY'); // at the end
    fs.closeSync(fd);

    const zero = filledFifo(Buffer.from([1, 2, 0, 3]));
    expect(bytesOf(readFd(zero, { until: 0 }))).toEqual([1, 2]);
    fs.closeSync(zero);

    // A delimiter right after a full first region is found by the byte read past it.
    const full = filledFifo(`${'a'.repeat(PAGE_START)}\nrest`);
    expect(readFd(full, { until: 10, maxSize: PAGE_START }).size).toBe(PAGE_START);
    expect(fs.readFileSync(full, 'utf8')).toBe('rest');
    fs.closeSync(full);

    const first = filledFifo('\nrest');
    expect(leavesNothing(() => errorCode(() => readFd(first, { until: 10 })))).toBe('ERR_EMPTY');
    expect(fs.readFileSync(first, 'utf8')).toBe('rest');
    fs.closeSync(first);
  });

  it('reads a file from its current position and leaves the descriptor open', () => {
    const fd = fs.openSync(tempFile('0123456789'), 'r');
    fs.readSync(fd, Buffer.alloc(4));
    expect(textOf(readFd(fd))).toBe('456789');
    expect(fs.fstatSync(fd).size).toBe(10);
    fs.closeSync(fd);
  });

  it('bad descriptors are ERR_INVALID_ARG (a directory ERR_IO) and build no region', () => {
    for (const fd of [-1, 1.5, '0', 2 ** 31, Number.NaN, undefined, null]) {
      expect(errorCode(() => readFd(fd as number))).toBe('ERR_INVALID_ARG');
    }
    const closed = fs.openSync(tempFile('x'), 'r');
    fs.closeSync(closed);
    const error = leavesNothing(() => errorOf(() => readFd(closed)));
    expect(error.code).toBe('ERR_INVALID_ARG');
    expect(error.message).toContain('not an open file descriptor');

    const writeOnly = fs.openSync(path.join(dir, `w-${++counter}`), 'w');
    expect(leavesNothing(() => errorCode(() => readFd(writeOnly)))).toBe('ERR_INVALID_ARG');
    fs.closeSync(writeOnly);
    const directory = fs.openSync(dir, 'r');
    expect(leavesNothing(() => errorCode(() => readFd(directory)))).toBe('ERR_IO');
    fs.closeSync(directory);

    const fd = filledFifo('x');
    for (const until of [-1, 256, 1.5, '\n']) {
      expect(errorCode(() => readFd(fd, { until: until as number }))).toBe('ERR_INVALID_ARG');
    }
    expect(errorCode(() => readFd(fd, { maxSize: 0 }))).toBe('ERR_INVALID_ARG');
    fs.closeSync(fd);
  });

  it('stdin piped with 100 KiB: the region grows past the first page and ends exact', async () => {
    const result = await runPiped(
      `import * as sr from '@strongroom/core-native';
       const before = sr.stats();
       const region = sr.readFd(0, { maxSize: 1 << 20, backend: 'mmap' });
       const after = sr.stats();
       const expected = Buffer.alloc(102400);
       for (let i = 0; i < expected.length; i++) expected[i] = (i * 7 + (i >> 8)) & 255;
       console.log(JSON.stringify({
         size: region.size, equal: sr.equals(region, expected), protection: region.protection,
         regions: after.regions - before.regions, locked: after.bytesLocked - before.bytesLocked,
       }));`,
      feedAll(pattern(102400)),
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({
      size: 102400,
      equal: true,
      protection: 'readwrite',
      regions: 1,
      locked: 26 * 4096, // ceil((102400 + 16) / 4096) pages: nothing of the grown regions stays
    });
  });

  it('until leaves everything after the delimiter in the pipe for the next reader', async () => {
    const result = await runPiped(
      `import * as sr from '@strongroom/core-native';
       import fs from 'node:fs';
       const line = sr.readFd(0, { until: 10 });
       const rest = fs.readFileSync(0);
       console.log(JSON.stringify({ line: sr.equals(line, Buffer.from('the secret')), rest: rest.length }));`,
      feedAll(`the secret\n${'x'.repeat(5000)}`),
    );
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ line: true, rest: 5000 });
  });

  it('waits on a non-blocking descriptor (process.stdin makes fd 0 one) until the writer is done', async () => {
    const result = await runPiped(
      `import * as sr from '@strongroom/core-native';
       import fs from 'node:fs';
       process.stdin; // Node opens fd 0 as a stream, which sets O_NONBLOCK on the pipe
       const flags = parseInt(/flags:\\s+(\\d+)/.exec(fs.readFileSync('/proc/self/fdinfo/0', 'utf8'))[1], 8);
       console.log('nonblocking ' + ((flags & fs.constants.O_NONBLOCK) !== 0));
       const region = sr.readFd(0);
       console.log(JSON.stringify({ size: region.size, equal: sr.equals(region, Buffer.from('first part|second part')) }));
       process.exit(0);`,
      async (stdin, output) => {
        await output('nonblocking');
        stdin.write('first part|');
        await new Promise((resolve) => setTimeout(resolve, 300));
        stdin.end('second part');
      },
    );
    expect(result.stderr).toBe('');
    const [first, second] = result.stdout.trim().split('\n');
    expect(first).toBe('nonblocking true');
    expect(JSON.parse(second!)).toEqual({ size: 22, equal: true });
  });
});

describe('readEnv', () => {
  const name = () => `STRONGROOM_TEST_${++counter}`;

  it('copies the bytes of a variable, wipes and unsets it by default: process.env no longer has it', () => {
    const variable = name();
    process.env[variable] = 'pässwörd'; // setenv's own copy in the C environment
    const region = readEnv(variable);
    expect(region.size).toBe(Buffer.byteLength('pässwörd'));
    expect(equals(region, Buffer.from('pässwörd'))).toBe(true);
    expect(region.protection).toBe('readwrite');
    expect(process.env[variable]).toBeUndefined();
    expect(variable in process.env).toBe(false);
    region.free();
    const missing = leavesNothing(() => errorOf(() => readEnv(variable)));
    expect(missing.code).toBe('ERR_NOT_FOUND');
    expect(missing.message).toBe(`environment variable ${variable} is not set`);
  });

  it('remove: false leaves the variable as it was', () => {
    const variable = name();
    process.env[variable] = 'kept';
    const region = readEnv(variable, { remove: false, backend: 'mmap' });
    expect(textOf(region)).toBe('kept');
    expect(region.backend).toBe('mmap');
    expect(process.env[variable]).toBe('kept');
    region.free();
    delete process.env[variable];
  });

  it('an empty variable is ERR_EMPTY and stays set', () => {
    const variable = name();
    process.env[variable] = '';
    expect(leavesNothing(() => errorCode(() => readEnv(variable)))).toBe('ERR_EMPTY');
    expect(process.env[variable]).toBe('');
    delete process.env[variable];
  });

  it('rejects bad names and options without echoing them', () => {
    for (const bad of ['', 'A=B', 'A\0B', 42, undefined]) {
      expect(errorCode(() => readEnv(bad as string))).toBe('ERR_INVALID_ARG');
    }
    expect(errorOf(() => readEnv('API_KEY=hunter2')).message).not.toContain('hunter2');
    const variable = name();
    process.env[variable] = 'v';
    expect(errorCode(() => readEnv(variable, { remove: 'yes' as never }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => readEnv(variable, { mlock: 'maybe' as never }))).toBe('ERR_INVALID_ARG');
    expect(process.env[variable]).toBe('v'); // a failed call changes nothing
    delete process.env[variable];
  });
});

describe('residue in a child process', () => {
  it('readFile (mmap): the marker is in the process exactly once, in the region, and nowhere after free()', async () => {
    const marker = makeMarker();
    const child = await startChild(
      `${PREAMBLE}
       const region = sr.readFile(${JSON.stringify(tempFile(marker))}, { backend: 'mmap' });
       const at = poke.addressOf(region.view());
       region.protect('noaccess');
       await checkpoint('read', at);
       region.free();
       await checkpoint('freed');`,
      CHILD,
    );
    await expectResidue(child, marker, [
      { at: 'read', count: 1, perms: '---', check: (found, at) => expect(addresses(found)).toEqual([at]) },
      { at: 'freed', present: false }, // and the scan read over 1 MiB (MIN_SCANNED_BYTES)
    ]);
  });

  it('readFile of a FIFO (mmap): the regions it grew through leave no copy behind', async () => {
    const marker = makeMarker();
    const source = tempFile(Buffer.concat([marker, pattern(20_000)]));
    const fifo = path.join(dir, `fifo-${++counter}`);
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('/bin/sh', ['-c', 'cat "$0" > "$1"', source, fifo], { stdio: 'ignore' });
    try {
      const child = await startChild(
        `${PREAMBLE}
         const region = sr.readFile(${JSON.stringify(fifo)}, { backend: 'mmap', maxSize: 1 << 20 });
         await checkpoint('read', { at: poke.addressOf(region.view()), size: region.size });`,
        CHILD,
      );
      await expectResidue(child, marker, [
        {
          at: 'read',
          present: true,
          check: (found, data) => {
            const { at, size } = data as { at: bigint; size: number };
            expect(size).toBe(marker.length + 20_000);
            expect(addresses(found)).toEqual([at]);
          },
        },
      ]);
    } finally {
      writer.kill();
    }
  });

  it.skipIf(!SECRETMEM)('readFile (secretmem): the region holds the marker, and no scan finds it', async () => {
    const marker = makeMarker();
    const child = await startChild(
      `${PREAMBLE}
       const region = sr.readFile(${JSON.stringify(tempFile(marker))}, { backend: 'secretmem' });
       ${plantMarker('expected', marker, 'secretmem')}
       await checkpoint('read', sr.equals(region, expected));`,
      CHILD,
    );
    await expectResidue(child, marker, [{ at: 'read', data: true, present: false }]);
  });

  // An environment value is text: a printable marker (textMarker: a marker's hex), scanned as ASCII.
  it('readEnv (mmap): found in the initial environment before, only in the region after, nowhere after free()', async () => {
    const { text: value, bytes: needle } = textMarker(makeMarker(16));
    const child = await startChild(
      `${PREAMBLE}
       await checkpoint('before');
       const region = sr.readEnv('STRONGROOM_RESIDUE', { backend: 'mmap' });
       const at = poke.addressOf(region.view());
       region.protect('noaccess');
       await checkpoint('read', { at, gone: process.env.STRONGROOM_RESIDUE === undefined });
       region.free();
       await checkpoint('freed');`,
      { ...CHILD, env: { STRONGROOM_RESIDUE: value } },
    );
    await expectResidue(child, needle, [
      // the positive control: the initial environment, on the stack
      { at: 'before', present: true, check: (found) => expect(found.matches.some((m) => m.mapping.path === '[stack]')).toBe(true) },
      {
        at: 'read',
        present: true,
        check: (found, data) => {
          const { at, gone } = data as { at: bigint; gone: boolean };
          expect(gone).toBe(true);
          expect(addresses(found)).toEqual([at]);
        },
      },
      { at: 'freed', present: false },
    ]);
  });

  it.skipIf(!SECRETMEM)('readEnv (secretmem): found before, nowhere after', async () => {
    const { text: value, bytes: needle } = textMarker(makeMarker(16));
    const child = await startChild(
      `${PREAMBLE}
       await checkpoint('before');
       const region = sr.readEnv('STRONGROOM_RESIDUE', { backend: 'secretmem' });
       await checkpoint('read', region.size);`,
      { ...CHILD, env: { STRONGROOM_RESIDUE: value } },
    );
    await expectResidue(child, needle, [
      { at: 'before', present: true },
      { at: 'read', data: 32, present: false },
    ]);
  });
  if (!SECRETMEM) it.skip(`secretmem residue skipped: ${SECRETMEM_SKIP_REASON}`, () => {});
});

// A real pseudo-terminal (testkit's startTerminal, over util-linux `script`).
const ptySupport = terminalSupport();
const SCRIPT_OK = ptySupport.available;
const SCRIPT_SKIP_REASON = ptySupport.reason;

const TERMINAL_PRELUDE = `
import * as sr from ${JSON.stringify(DIST)};
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
const say = (label, data) => process.stdout.write('@@' + label + ' ' + JSON.stringify(data) + '\\n');
const echo = () => execFileSync('stty', ['-a'], { stdio: ['inherit', 'pipe', 'inherit'] }).toString().split(/[\\s;]+/).includes('echo');
`;

function terminalFlags(tty: string): string[] {
  return execFileSync('stty', ['-a', '-F', tty]).toString().split(/[\s;]+/);
}

describe('promptSecret beside another reader of the terminal', () => {
  // readline (left open after its question) and a 'data' listener read fd 0 from the main
  // thread. The prompt pauses process.stdin while it reads, and reads the line in one
  // read(2), which in canonical mode returns at most one line: no part of it reaches them.
  const password = 'p'.repeat(30) + 'q'.repeat(34); // 64 bytes, pasted at once

  it.skipIf(!SCRIPT_OK)('readline left open after rl.question(): the whole line goes to the prompt, none to readline', async () => {
    const terminal = startTerminal(
      `${TERMINAL_PRELUDE}
       import readline from 'node:readline';
       const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
       const lines = [];
       const user = await new Promise((resolve) => rl.question('User: ', resolve));
       rl.on('line', (line) => lines.push(line.length));
       const secret = await sr.promptSecret('Password: ', { backend: 'mmap' });
       const same = sr.equals(secret, Buffer.from(process.env.EXPECTED));
       say('read', { user, size: secret.size, same, lines, echo: echo() });
       rl.close();`,
      { env: { EXPECTED: password } },
    );
    await terminal.shown('User: ');
    terminal.type('alice\n');
    await terminal.shown('Password: ');
    terminal.type(`${password}\n`);
    expect(await terminal.report('read')).toEqual({ user: 'alice', size: 64, same: true, lines: [], echo: false });
    const { output } = await terminal.exited;
    expect(output).not.toContain('pppp'); // never echoed
  });

  it.skipIf(!SCRIPT_OK)("a 'data' listener on process.stdin gets nothing of the line", async () => {
    const terminal = startTerminal(
      `${TERMINAL_PRELUDE}
       let received = 0;
       process.stdin.on('data', (chunk) => { received += chunk.length; });
       const sizes = [];
       for (let i = 1; i <= 4; i++) sizes.push((await sr.promptSecret('Password ' + i + ': ', { backend: 'mmap' })).size);
       say('read', { sizes, received, flowing: process.stdin.readableFlowing });
       process.stdin.pause();`,
    );
    // Four pasted lines: before the fix, the listener took part of a line in about one run of four.
    for (let i = 1; i <= 4; i++) {
      await terminal.shown(`Password ${i}: `);
      terminal.type(`${password}\n`);
    }
    expect(await terminal.report('read')).toEqual({ sizes: [64, 64, 64, 64], received: 0, flowing: true });
  });

  it('readFd(0) while process.stdin flows is ERR_BUSY, and reads the pipe when it does not (control)', async () => {
    const busy = await runNode(
      `${PREAMBLE}
       process.stdin.on('data', () => {});
       let code; try { sr.readFd(0, { until: 10 }); code = 'none'; } catch (e) { code = e.code; }
       console.log(code); process.stdin.pause();`,
      { ...CHILD, input: 'secret\n' },
    );
    expect(busy.stdout.trim(), busy.stderr).toBe('ERR_BUSY');
    const quiet = await runNode(`${PREAMBLE} console.log(sr.readFd(0, { until: 10 }).size);`, { ...CHILD, input: 'secret\n' });
    expect(quiet.stdout.trim(), quiet.stderr).toBe('6');
  });

  it('readFd(0) does not create process.stdin to ask: a piped fd 0 stays blocking for what inherits it', async () => {
    const result = await runNode(
      `${PREAMBLE}
       import fs from 'node:fs';
       const nonBlocking = () => (parseInt(/^flags:\\s+(\\d+)/m.exec(fs.readFileSync('/proc/self/fdinfo/0', 'utf8'))[1], 8) & 0o4000) !== 0;
       const before = nonBlocking();
       sr.readFd(0, { until: 10 }).free();
       const after = nonBlocking();
       process.stdin; // a control: creating process.stdin for a pipe makes fd 0 non-blocking
       console.log(JSON.stringify({ before, after, control: nonBlocking() }));`,
      { ...CHILD, input: 'secret\n' },
    );
    expect(JSON.parse(result.stdout.trim()), result.stderr).toEqual({ before: false, after: false, control: true });
  });
});

describe('promptSecret', () => {
  it.skipIf(!SCRIPT_OK)('a prompt pending in a worker that is terminated: no abort, the process goes on', async () => {
    // The prompt's completion used to throw from OnOK while the worker's environment was
    // torn down, and the uncaught Napi::Error aborted the process (SIGABRT).
    const terminal = startTerminal(
      `${TERMINAL_PRELUDE}
       import { Worker } from 'node:worker_threads';
       const worker = new Worker(\`
         import * as sr from \${JSON.stringify(${JSON.stringify(DIST)})};
         import { parentPort } from 'node:worker_threads';
         parentPort.postMessage('prompting');
         await sr.promptSecret('Worker password: ');\`, { eval: true });
       await new Promise((resolve) => worker.once('message', resolve));
       await new Promise((resolve) => setTimeout(resolve, 200));
       const stopping = worker.terminate(); // waits for the read on the thread pool
       say('terminating', true);
       await stopping;
       say('terminated', true);
       await new Promise((resolve) => setTimeout(resolve, 200));
       say('alive', sr.stats().regions >= 0);`,
    );
    await terminal.shown('Worker password: ');
    expect(await terminal.report('terminating')).toBe(true);
    terminal.type('late\n'); // the read completes while the worker's environment is torn down
    expect(await terminal.report('terminated')).toBe(true);
    expect(await terminal.report('alive')).toBe(true);
    const { output } = await terminal.exited;
    expect(output).not.toMatch(/Aborted|core dumped|terminate called/);
  });

  it.skipIf(!SCRIPT_OK)(
    'on a pty: echo off while it reads, the password never shown, the terminal restored on every path',
    async () => {
      const password = `pw-${randomBytes(8).toString('hex')}`;
      const tooLong = `toolong-${randomBytes(4).toString('hex')}`;
      const terminal = startTerminal(
        `${TERMINAL_PRELUDE}
         say('start', { tty: fs.readlinkSync('/proc/self/fd/0'), echo: echo() });
         const pending = sr.promptSecret('Password: ', { backend: 'mmap' });
         const busy = await sr.promptSecret('Other: ').then(() => 'resolved', (e) => e.code);
         const secret = await pending;
         say('read', {
           size: secret.size, equal: sr.equals(secret, Buffer.from(process.env.EXPECTED, 'hex')),
           protection: secret.protection, echo: echo(), busy,
         });
         const control = sr.readFd(0, { until: 10 }); // echo is on again: this line shows
         say('control', control.size);
         const failed = await sr.promptSecret('Short: ', { maxSize: 4 }).then(() => 'resolved', (e) => e.code);
         say('too long', { code: failed, echo: echo() });
         const next = sr.readFd(0, { until: 10 }); // the rest of the long line was dropped
         say('next', sr.equals(next, Buffer.from('next')));
         const last = await sr.promptSecret('Last: ');
         say('last', { equal: sr.equals(last, Buffer.from('ok')), echo: echo() });`,
        { env: { EXPECTED: Buffer.from(password).toString('hex') } },
      );
      const start = (await terminal.report('start')) as { echo: boolean; tty: string };
      expect(start.echo).toBe(true);
      await terminal.shown('Password: ');
      const during = terminalFlags(start.tty);
      expect(during).toContain('-echo');
      expect(during).toContain('icanon');
      terminal.type(`${password}\n`);
      expect(await terminal.report('read')).toEqual({
        size: password.length,
        equal: true,
        protection: 'readwrite',
        echo: true,
        busy: 'ERR_BUSY',
      });
      terminal.type('visible-control-line\n');
      expect(await terminal.report('control')).toBe('visible-control-line'.length);
      await terminal.shown('Short: ');
      terminal.type(`${tooLong}\n`);
      expect(await terminal.report('too long')).toEqual({ code: 'ERR_TOO_LARGE', echo: true });
      terminal.type('next\n');
      expect(await terminal.report('next')).toBe(true);
      await terminal.shown('Last: ');
      terminal.type('ok\x16\r\n'); // Ctrl-V quotes a carriage return into the line: stripped
      expect(await terminal.report('last')).toEqual({ equal: true, echo: true });
      const { code, output } = await terminal.exited;
      expect(code).toBe(0);
      expect(output).toContain('visible-control-line'); // the capture shows what the terminal echoes
      expect(output).not.toContain(password);
      expect(output).not.toContain(tooLong.slice(0, 4));
      expect(output).not.toContain('Other: ');
    },
  );

  it.skipIf(!SCRIPT_OK)(
    'a C++ allocation that fails in a prompt (std::bad_alloc): ERR_NO_MEMORY, and the next prompt works (no ERR_BUSY for good), echo on, nothing left to read',
    async () => {
      // The shim fails the addon's own operator new calls: the entry's, the worker's, the
      // region's. Those made inside libstdc++ (a message string) are out of its reach, so the
      // terminal's restore on such a failure (TerminalRestore in io.cc) is not exercised here.
      // Before the fix, a failure in the entry left the one prompt claimed: ERR_BUSY ever after.
      const terminal = startTerminal(
        `${faultsPreamble()}
         ${TERMINAL_PRELUDE}
         // Each prompt gets a line too long for maxSize 4; the Kth allocation of the addon fails.
         const attempt = async (label, k) => {
           faults.watch();
           if (k > 0) faults.fail('new', k, errno.ENOMEM);
           const outcome = await sr.promptSecret(label + ': ', { maxSize: 4 }).then((r) => { r.free(); return 'read'; }, (e) => e.code);
           const made = faults.counts().new;
           faults.stop();
           return { outcome, made };
         };
         const counting = await attempt('Count', 0);
         say('total', { outcome: counting.outcome, made: counting.made });
         for (let k = 1; k <= counting.made; k++) {
           const { outcome } = await attempt('Try' + k, k);
           say('settled' + k, outcome);
           const next = sr.readFd(0, { until: 10 }); // the line typed after the prompt settled
           say('result' + k, { outcome, echo: echo(), next: sr.equals(next, Buffer.from('next')) });
           next.free();
         }`,
        { env: faultsEnv(), timeoutMs: 60_000 },
      );
      const line = 'toolong-line\n';
      await terminal.shown('Count: ');
      terminal.type(line);
      const total = (await terminal.report('total')) as { outcome: string; made: number };
      expect(total.outcome).toBe('ERR_TOO_LARGE');
      expect(total.made).toBeGreaterThan(0);
      const results: Array<{ outcome: string; echo: boolean; next: boolean }> = [];
      for (let k = 1; k <= total.made; k++) {
        // A failure before the prompt is shown never reads: then nothing is typed.
        const first = await Promise.race([
          terminal.shown(`Try${k}: `).then(() => 'shown'),
          terminal.report(`settled${k}`).then(() => 'settled'),
        ]);
        if (first === 'shown') terminal.type(line);
        await terminal.report(`settled${k}`);
        terminal.type('next\n');
        results.push((await terminal.report(`result${k}`)) as { outcome: string; echo: boolean; next: boolean });
      }
      expect(results.filter((r) => !['ERR_TOO_LARGE', 'ERR_NO_MEMORY'].includes(r.outcome) || !r.echo || !r.next)).toEqual([]);
      expect(results.some((r) => r.outcome === 'ERR_NO_MEMORY')).toBe(true);
      const { code } = await terminal.exited;
      expect(code).toBe(0);
    },
  );

  it.skipIf(!SCRIPT_OK).each([
    ['Ctrl-\\ (SIGQUIT)', 'SIGQUIT', 131],
    ['SIGHUP', 'SIGHUP', 129],
  ] as const)('%s while it waits: the process dies by it and the terminal has its echo back', async (_, signal, status) => {
    const terminal = startTerminal(
      `${TERMINAL_PRELUDE}
       say('start', { tty: fs.readlinkSync('/proc/self/fd/0'), pid: process.pid });
       await sr.promptSecret('Password: ');
       say('resolved', true);`,
      { shell: (node) => `trap '' QUIT HUP; ${node}; echo "@@exit $?"; stty -a` },
    );
    const { tty, pid } = (await terminal.report('start')) as { tty: string; pid: number };
    await terminal.shown('Password: ');
    expect(terminalFlags(tty)).toContain('-echo');
    if (signal === 'SIGQUIT') terminal.type('abc\x1c');
    else process.kill(pid, 'SIGHUP');
    expect(await terminal.report('exit')).toBe(status); // 128 + the signal's number
    const { output } = await terminal.exited;
    const after = output.slice(output.indexOf('@@exit')).split(/[\s;]+/);
    expect(after).toContain('echo');
    expect(after).not.toContain('-echo');
    expect(output).not.toContain('@@resolved');
  });

  it.skipIf(!SCRIPT_OK)('Ctrl-C while it waits: Node exits on SIGINT and the terminal has its echo back', async () => {
    const terminal = startTerminal(
      `${TERMINAL_PRELUDE}
       say('start', { tty: fs.readlinkSync('/proc/self/fd/0') });
       await sr.promptSecret('Password: ');
       say('resolved', true);`,
      { shell: (node) => `trap '' INT; ${node}; echo "@@exit $?"; stty -a` },
    );
    const { tty } = (await terminal.report('start')) as { tty: string };
    await terminal.shown('Password: ');
    expect(terminalFlags(tty)).toContain('-echo');
    terminal.type('abc\x03');
    expect(await terminal.report('exit')).toBe(130); // 128 + SIGINT
    const { output } = await terminal.exited;
    const after = output.slice(output.indexOf('@@exit')).split(/[\s;]+/);
    expect(after).toContain('echo');
    expect(after).not.toContain('-echo');
    expect(output).not.toContain('@@resolved');
  });
  if (!SCRIPT_OK) it.skip(`pty tests skipped: ${SCRIPT_SKIP_REASON}`, () => {});

  it('stdin not a terminal (a pipe): ERR_NOT_A_TTY, which says to use readFd, and no region', async () => {
    const result = await runPiped(
      `import * as sr from '@strongroom/core-native';
       const regions = sr.stats().regions;
       const error = await sr.promptSecret('Password: ').then(() => null, (e) => e);
       console.log(JSON.stringify({ code: error.code, message: error.message, regions: sr.stats().regions - regions }));`,
      feedAll('secret\n'),
    );
    expect(result.stderr).toBe('');
    const { code, message, regions } = JSON.parse(result.stdout);
    expect(code).toBe('ERR_NOT_A_TTY');
    expect(message).toContain('readFd(0, { until: 10 })');
    expect(regions).toBe(0);
  });

  it('bad arguments reject (not throw) with ERR_INVALID_ARG', async () => {
    for (const call of [() => promptSecret(42 as never), () => promptSecret('x', { maxSize: 0 }), () => promptSecret('x', 'y' as never)]) {
      expect(await asyncErrorCode(call)).toBe('ERR_INVALID_ARG'); // fails on a synchronous throw or a non-promise
    }
  });
});

describe('readEnv() and --env-file', () => {
  it('warns once (STRONGROOM_ENV_FILE) when Node was started with --env-file, and not without it (control)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-envfile-'));
    try {
      const envFile = path.join(dir, 'app.env');
      fs.writeFileSync(envFile, 'STRONGROOM_FROM_FILE=abc\n');
      const body = `${PREAMBLE}
        process.on('warning', (w) => console.log('warning', w.code));
        process.env.STRONGROOM_ENV_A = 'x'; process.env.STRONGROOM_ENV_B = 'y';
        sr.readEnv('STRONGROOM_ENV_A').free(); sr.readEnv('STRONGROOM_ENV_B').free();
        await new Promise((resolve) => setImmediate(resolve));`;
      const withFile = await runNode(body, { ...CHILD, args: [`--env-file=${envFile}`] });
      expect(withFile.stdout.trim().split('\n'), withFile.stderr).toEqual(['warning STRONGROOM_ENV_FILE']);
      const without = await runNode(body, CHILD);
      expect(without.stdout.trim()).toBe('');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
