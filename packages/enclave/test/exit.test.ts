// purge(), safeExit(), safePanic(), describeSafely() and catchSignals().
//
// Everything that purges or ends a process runs in a child (`node -e`, through testkit)
// that imports the built dist/ by package name: run `npx tsc -p tsconfig.build.json`
// first. Children report what they see in `@@label {json}` lines on stdout; an exit hook
// (REPORT) tells whether the purge happened before the process ended, and each such
// test has a control in which the same hook sees no purge.
import { randomUUID } from 'node:crypto';

import { describe, expect, it } from 'vitest';
import { errorCode, expectResidue, makeMarker, runNode, startChild, type ChildResult } from '@strongroom/testkit';

import { catchSignals, describeSafely, StrongroomError, type CatchSignalsOptions } from '../src/index.js';
import { CHILD, secretBufferMarker } from './helpers.js';

// codeOf(fn): 'ok', or the code of what fn threw. opens(enclave): codeOf(open and destroy).
const PREAMBLE = `
import { writeSync } from 'node:fs';
import { Enclave, SecretBuffer, catchSignals, cofferStats, purge, safeExit, safePanic, StrongroomError } from '@strongroom/enclave';
const codeOf = (fn) => { try { fn(); return 'ok'; } catch (error) { return typeof error?.code === 'string' ? error.code : 'threw ' + String(error); } };
const opens = (enclave) => codeOf(() => enclave.open().destroy());
const say = (label, data) => writeSync(1, '@@' + label + ' ' + JSON.stringify(data) + '\\n');
`;

// One live SecretBuffer and one enclave; when the process exits, '@@exit' says whether they
// were purged: { code, live: 0, buffer: 'ERR_DESTROYED', enclave: 'ERR_AUTH' } if so.
const REPORT = `
const reportBuffer = SecretBuffer.alloc(16, { backend: 'mmap' });
const reportEnclave = Enclave.random(16);
process.on('exit', (code) => say('exit', {
  code,
  live: SecretBuffer.live().buffers,
  buffer: codeOf(() => reportBuffer.read((view) => view.length)),
  enclave: opens(reportEnclave),
}));
`;

const PURGED = { live: 0, buffer: 'ERR_DESTROYED', enclave: 'ERR_AUTH' };
const NOT_PURGED = { live: 1, buffer: 'ok', enclave: 'ok' };

// Keeps a child alive while it waits for a signal (signal listeners do not).
const KEEP_ALIVE = `setInterval(() => {}, 60_000);`;

/** The JSON of the child's `@@label {json}` line. */
function report(result: Pick<ChildResult, 'stdout' | 'stderr'>, label: string): unknown {
  const line = result.stdout.split('\n').find((text) => text.startsWith(`@@${label} `));
  if (line === undefined) {
    throw new Error(`no @@${label} line from the child\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
  }
  return JSON.parse(line.slice(label.length + 3));
}

/** A string that appears nowhere unless the code under test printed it. */
function secretText(): string {
  return `SECRET-${randomUUID()}`;
}

/**
 * Starts a child (its source ends with `await checkpoint('ready')`), sends it one signal
 * once it is ready, and returns how it ended. The child is killed if anything throws.
 */
async function signalWhenReady(
  source: string,
  signal: NodeJS.Signals,
  options: Parameters<typeof startChild>[1] = CHILD,
): Promise<ChildResult> {
  const child = await startChild(source, options);
  try {
    await child.waitFor('ready');
    child.resume();
    child.kill(signal);
    return await child.exited;
  } finally {
    child.kill();
  }
}

const SIGNALS = [
  ['SIGTERM', 143],
  ['SIGINT', 130],
  ['SIGHUP', 129],
] as const;

describe('purge()', () => {
  it.each(['native', 'js'] as const)(
    'destroys every live SecretBuffer, disables every enclave, and the library stays usable (%s backend)',
    async (backend) => {
      const result = await runNode(
        `${PREAMBLE}
         const a = SecretBuffer.alloc(8);
         const b = SecretBuffer.random(16, { backend: 'mmap' });
         const sealed = Enclave.from(Uint8Array.of(1, 2, 3));
         const random = Enclave.random(32);
         const sealedBytes = sealed.toBytes();
         const opened = sealed.open();
         const purgesBefore = cofferStats().purges;
         say('before', {
           backend: Enclave.backend,
           live: SecretBuffer.live().buffers,
           sealed: opens(sealed),
           random: opens(random),
           copy: opens(Enclave.fromBytes(sealedBytes)),
           opened: opened.read((view) => Array.from(view)),
         });
         say('result', purge());
         say('after', {
           live: SecretBuffer.live(),
           destroyed: [a.destroyed, b.destroyed, opened.destroyed],
           a: codeOf(() => a.read((view) => view.length)),
           b: codeOf(() => b.write((view) => view.length)),
           opened: codeOf(() => opened.read((view) => view.length)),
           sealed: opens(sealed),
           random: opens(random),
           copy: opens(Enclave.fromBytes(sealedBytes)),
           purges: cofferStats().purges - purgesBefore,
         });
         // Usable afterwards: new buffers and enclaves seal and open.
         const fresh = Enclave.from(Uint8Array.of(9, 8, 7));
         const freshOpened = fresh.open();
         const freshRandom = Enclave.random(24).open();
         const kept = SecretBuffer.random(4);
         say('usable', {
           bytes: freshOpened.read((view) => Array.from(view)),
           randomSize: freshRandom.size,
           live: SecretBuffer.live().buffers,
         });
         say('again', { result: purge(), fresh: opens(fresh), kept: kept.destroyed });`,
        { ...CHILD, env: { STRONGROOM_ENCLAVE_BACKEND: backend } },
      );
      expect(result.code, result.stderr).toBe(0);
      expect(report(result, 'before')).toEqual({
        backend,
        live: 3,
        sealed: 'ok',
        random: 'ok',
        copy: 'ok',
        opened: [1, 2, 3],
      });
      expect(report(result, 'result')).toEqual({ buffers: 3 });
      expect(report(result, 'after')).toEqual({
        live: { buffers: 0, bytes: 0 },
        destroyed: [true, true, true],
        a: 'ERR_DESTROYED',
        b: 'ERR_DESTROYED',
        opened: 'ERR_DESTROYED',
        sealed: 'ERR_AUTH',
        random: 'ERR_AUTH',
        copy: 'ERR_AUTH',
        purges: 1,
      });
      expect(report(result, 'usable')).toEqual({ bytes: [9, 8, 7], randomSize: 24, live: 3 });
      expect(report(result, 'again')).toEqual({ result: { buffers: 3 }, fresh: 'ERR_AUTH', kept: true });
      if (backend === 'native') expect(result.stderr).toBe('');
    },
  );

  it('works in a process that never sealed or allocated anything', async () => {
    const result = await runNode(
      `${PREAMBLE}
       const result = purge();
       const enclave = Enclave.from(Uint8Array.of(5, 6));
       const opened = enclave.open();
       say('fresh', { result, bytes: opened.read((view) => Array.from(view)), live: SecretBuffer.live().buffers });`,
      CHILD,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(report(result, 'fresh')).toEqual({ result: { buffers: 0 }, bytes: [5, 6], live: 1 });
  });

  it('inside an open scope: the view is detached, nothing crashes', async () => {
    const result = await runNode(
      `${PREAMBLE}
       const secret = SecretBuffer.random(8, { backend: 'mmap' });
       const seen = secret.read((view) => {
         const before = view.length;
         const result = purge();
         return { before, result, after: view.length, byte: view[0] ?? null };
       });
       say('scope', { ...seen, destroyed: secret.destroyed, live: SecretBuffer.live().buffers });`,
      CHILD,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(report(result, 'scope')).toEqual({ before: 8, result: { buffers: 1 }, after: 0, byte: null, destroyed: true, live: 0 });
  });

  // The coffer is process-wide: a worker that never sealed anything still replaces the key
  // of the main thread's enclaves. SecretBuffers are per thread: main's are left alone.
  it.each([
    ['purges', true, 'ERR_AUTH'],
    ['does not purge (control)', false, 'ok'],
  ] as const)("a worker_thread that never sealed anything %s: open() of the main thread's enclave -> %s", async (_, purges, expected) => {
    const worker = `
      import { parentPort } from 'node:worker_threads';
      import { purge, SecretBuffer } from '@strongroom/enclave';
      const own = SecretBuffer.alloc(8);
      parentPort.postMessage(${purges} ? purge() : { live: SecretBuffer.live().buffers, own: own.size });`;
    const result = await runNode(
      `import { Worker } from 'node:worker_threads';
       ${PREAMBLE}
       const enclave = Enclave.random(32);
       const kept = SecretBuffer.random(8);
       const before = opens(enclave);
       const thread = new Worker(${JSON.stringify(worker)}, { eval: true, execArgv: ['--input-type=module'] });
       const [message, exitCode] = await Promise.all([
         new Promise((resolve) => thread.once('message', resolve)),
         new Promise((resolve) => thread.once('exit', resolve)),
       ]);
       const fresh = Enclave.from(Uint8Array.of(1));
       say('main', {
         before,
         message,
         exitCode,
         enclave: opens(enclave),
         live: SecretBuffer.live().buffers,
         kept: codeOf(() => kept.read((view) => view.length)),
         fresh: opens(fresh),
       });`,
      CHILD,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(report(result, 'main')).toEqual({
      before: 'ok',
      message: purges ? { buffers: 1 } : { live: 1, own: 8 },
      exitCode: 0,
      enclave: expected,
      live: 1,
      kept: 'ok',
      fresh: 'ok',
    });
  });
});

describe('safeExit()', () => {
  it.each([
    ['safeExit(3)', 3],
    ['safeExit()', 0],
    ['safeExit(255)', 255],
  ] as const)('%s purges, then exits with code %i', async (call, code) => {
    const result = await runNode(`${PREAMBLE}${REPORT}\n${call};\nsay('after', 'safeExit returned');`, CHILD);
    expect(result.code, result.stderr).toBe(code);
    expect(result.stdout).not.toContain('@@after');
    expect(report(result, 'exit')).toEqual({ code, ...PURGED });
    expect(result.stderr).toBe('');
  });

  it('control: process.exit(3) does not purge, and the exit hook sees it', async () => {
    const result = await runNode(`${PREAMBLE}${REPORT}\nprocess.exit(3);`, CHILD);
    expect(result.code).toBe(3);
    expect(report(result, 'exit')).toEqual({ code: 3, ...NOT_PURGED });
  });

  it('an invalid code is ERR_INVALID_ARG, and nothing is purged', async () => {
    const result = await runNode(
      `${PREAMBLE}${REPORT}
       const values = [-1, 256, 1.5, NaN, Infinity, '3', null, 3n, {}, true];
       say('codes', values.map((value) => codeOf(() => safeExit(value))));`,
      CHILD,
    );
    expect(result.code, result.stderr).toBe(0);
    expect(report(result, 'codes')).toEqual(Array(10).fill('ERR_INVALID_ARG'));
    expect(report(result, 'exit')).toEqual({ code: 0, ...NOT_PURGED });
  });
});

describe('safePanic()', () => {
  it('an ordinary Error: purges, prints its name and stack frames but not its message, exits 1', async () => {
    const secret = secretText();
    const result = await runNode(
      `${PREAMBLE}${REPORT}
       function panicsHere() { safePanic(new TypeError(process.env.SECRET_TEXT)); }
       panicsHere();
       say('after', 'safePanic returned');`,
      { ...CHILD, env: { SECRET_TEXT: secret } },
    );
    expect(result.code).toBe(1);
    expect(result.stdout).not.toContain('@@after');
    expect(report(result, 'exit')).toEqual({ code: 1, ...PURGED });
    expect(result.stderr).toContain('strongroom: panic: TypeError (message withheld');
    expect(result.stderr).toMatch(/^\s+at panicsHere /m);
    expect(result.stderr).not.toContain(secret);
    expect(result.stderr).not.toContain('SECRET-');
  });

  it("a StrongroomError's message is printed (it never holds secret bytes)", async () => {
    const result = await runNode(
      `${PREAMBLE}${REPORT}
       safePanic(new StrongroomError('ERR_AUTH', 'the sealed bytes failed authentication'));`,
      CHILD,
    );
    expect(result.code).toBe(1);
    expect(report(result, 'exit')).toEqual({ code: 1, ...PURGED });
    expect(result.stderr).toContain('strongroom: panic: StrongroomError [ERR_AUTH]: the sealed bytes failed authentication');
    expect(result.stderr).toMatch(/^\s+at /m);
  });

  it('a thrown non-Error value is withheld', async () => {
    const secret = secretText();
    const result = await runNode(`${PREAMBLE}${REPORT}\nsafePanic(process.env.SECRET_TEXT);`, {
      ...CHILD,
      env: { SECRET_TEXT: secret },
    });
    expect(result.code).toBe(1);
    expect(report(result, 'exit')).toEqual({ code: 1, ...PURGED });
    expect(result.stderr).toBe('strongroom: panic: a thrown string (value withheld)\n');
  });

  // Expected behaviour; fails on the current src/exit.ts (describeSafely throws a TypeError
  // for a non-string stack, so safePanic throws instead of exiting and a caller's catch
  // keeps the process running).
  it('an Error whose stack was replaced by a non-string still exits 1 with the panic line', async () => {
    const result = await runNode(
      `${PREAMBLE}${REPORT}
       const error = new Error('x');
       error.stack = 42;
       try { safePanic(error); } catch (thrown) { say('after', String(thrown)); }`,
      CHILD,
    );
    expect(result.stdout).not.toContain('@@after');
    expect(result.code).toBe(1);
    expect(report(result, 'exit')).toEqual({ code: 1, ...PURGED });
    expect(result.stderr).toContain('strongroom: panic: Error (message withheld');
  });
});

describe('describeSafely()', () => {
  it.each([
    ['a string', 'hunter2', 'string'],
    ['a number', 42, 'number'],
    ['a bigint', 42n, 'bigint'],
    ['a symbol', Symbol('hunter2'), 'symbol'],
    ['a boolean', true, 'boolean'],
    ['undefined', undefined, 'undefined'],
    ['null', null, 'null'],
    ['an error-like object', { name: 'Error', message: 'hunter2', stack: 'Error: hunter2\n    at hunter2' }, 'object'],
    ['a function', () => 'hunter2', 'function'],
  ])('%s is withheld', (_, value, type) => {
    expect(describeSafely(value)).toBe(`a thrown ${type} (value withheld)`);
  });

  it('an Error: its name and stack frames, not its message', () => {
    const secret = secretText();
    function createsTheError(): Error {
      return new Error(secret);
    }
    const text = describeSafely(createsTheError());
    const [head, ...frames] = text.split('\n');
    expect(head).toBe('Error (message withheld: it may hold secret content)');
    expect(frames.length).toBeGreaterThan(0);
    for (const frame of frames) expect(frame).toMatch(/^\s+at /);
    expect(frames[0]).toMatch(/^\s+at createsTheError /);
    expect(text).not.toContain(secret);
  });

  it('subclasses keep their name; a string code is shown, a non-string code is not', () => {
    class VaultError extends Error {
      override name = 'VaultError';
    }
    const secret = secretText();
    expect(describeSafely(new RangeError(secret)).split('\n')[0]).toBe('RangeError (message withheld: it may hold secret content)');
    expect(describeSafely(new VaultError(secret)).split('\n')[0]).toBe('VaultError (message withheld: it may hold secret content)');
    const coded = Object.assign(new Error(secret), { code: 'ECONNREFUSED' });
    expect(describeSafely(coded).split('\n')[0]).toBe('Error [ECONNREFUSED] (message withheld: it may hold secret content)');
    const numeric = Object.assign(new Error(secret), { code: 7 });
    expect(describeSafely(numeric).split('\n')[0]).toBe('Error (message withheld: it may hold secret content)');
    for (const error of [new RangeError(secret), new VaultError(secret), coded, numeric]) {
      expect(describeSafely(error)).not.toContain(secret);
    }
  });

  it('a StrongroomError: its code and message', () => {
    const text = describeSafely(new StrongroomError('ERR_DESTROYED', 'this SecretBuffer was destroyed; create a new one'));
    const [head, ...frames] = text.split('\n');
    expect(head).toBe('StrongroomError [ERR_DESTROYED]: this SecretBuffer was destroyed; create a new one');
    expect(frames.length).toBeGreaterThan(0);
    for (const frame of frames) expect(frame).toMatch(/^\s+at /);
  });

  it('an Error without a stack, or with no frames, is its head line alone', () => {
    const secret = secretText();
    const stackless = new Error(secret);
    delete stackless.stack;
    expect(describeSafely(stackless)).toBe('Error (message withheld: it may hold secret content)');
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      expect(describeSafely(new Error(secret))).toBe('Error (message withheld: it may hold secret content)');
    } finally {
      Error.stackTraceLimit = limit;
    }
  });

  it('a cause or the errors of an AggregateError are not shown', () => {
    const secret = secretText();
    const withCause = new Error('outer', { cause: new Error(secret) });
    const aggregate = new AggregateError([new Error(secret)], 'outer');
    expect(describeSafely(withCause)).not.toContain(secret);
    expect(describeSafely(aggregate)).not.toContain(secret);
    expect(describeSafely(aggregate).split('\n')[0]).toBe('AggregateError (message withheld: it may hold secret content)');
  });

  // Expected behaviour; fails on the current src/exit.ts: V8's stack begins with the whole
  // message, and a message line that starts with "    at " passes the frame filter.
  it('a multi-line message whose lines look like stack frames is still withheld', () => {
    const secret = secretText();
    const text = describeSafely(new Error(`request failed\n    at ${secret}\n    at token=${secret}`));
    expect(text).not.toContain(secret);
    expect(text.split('\n')[0]).toBe('Error (message withheld: it may hold secret content)');
  });

  // Expected behaviour; fails on the current src/exit.ts (TypeError: ....split is not a function).
  it('never throws: a non-string stack is ignored', () => {
    const error = new Error('x');
    (error as { stack: unknown }).stack = 42;
    expect(() => describeSafely(error)).not.toThrow();
    expect(describeSafely(error)).toBe('Error (message withheld: it may hold secret content)');
  });
});

describe('catchSignals()', () => {
  // The strongest form: a marker secret in an mmap SecretBuffer (readable through
  // /proc/PID/mem, unlike memfd_secret pages) is found by a scan before the signal (the
  // positive control) and is gone at the signal, while the handler still holds the
  // process at a checkpoint: after the purge, before the exit.
  it.each(SIGNALS)('%s: purges, runs the handler after the purge, exits %i; the marker is gone before the exit', async (signal, code) => {
    const marker = makeMarker();
    const child = await startChild(
      `${PREAMBLE}
       ${secretBufferMarker('secret', marker)}
       const enclave = Enclave.random(32);
       catchSignals({
         handler: async (signal) => {
           const seen = {
             signal,
             live: SecretBuffer.live().buffers,
             secret: codeOf(() => secret.read((view) => view.length)),
             enclave: opens(enclave),
           };
           say('handler', seen);
           await checkpoint('purged', seen);
           say('handler done', signal);
         },
       });
       ${KEEP_ALIVE}
       await checkpoint('ready', { live: SecretBuffer.live().buffers, enclave: opens(enclave) });`,
      CHILD,
    );
    try {
      const result = await expectResidue(
        child,
        marker,
        [
          { at: 'ready', data: { live: 1, enclave: 'ok' }, present: true, afterResume: () => child.kill(signal) }, // positive control
          // the handler holds the process: purged, not yet exited
          { at: 'purged', data: { signal, live: 0, secret: 'ERR_DESTROYED', enclave: 'ERR_AUTH' }, present: false },
        ],
        { exitCode: code },
      );
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code, signal: null });
      expect(report(result, 'handler done')).toBe(signal);
      expect(result.stderr).toBe('');
    } finally {
      child.kill();
    }
  });

  it.each([
    ['without dispose', false, { code: 143, signal: null }],
    ['after the disposer ran (the default action: killed by SIGTERM)', true, { code: null, signal: 'SIGTERM' }],
  ] as const)('SIGTERM %s', async (_, dispose, expected) => {
    const result = await signalWhenReady(
      `${PREAMBLE}
       const dispose = catchSignals({ handler: (signal) => say('handler', signal) });
       if (${dispose}) dispose();
       ${KEEP_ALIVE}
       await checkpoint('ready');`,
      'SIGTERM',
    );
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual(expected);
    if (dispose) expect(result.stdout).not.toContain('@@handler');
    else expect(report(result, 'handler')).toBe('SIGTERM');
  });

  it('the disposer removes exactly the listeners it added (in this process; no signal is sent)', () => {
    const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR2', 'uncaughtExceptionMonitor'] as const;
    const counts = (): number[] => events.map((event) => process.listenerCount(event));
    const before = counts();
    const disposeDefault = catchSignals({ purgeOnUncaught: true });
    const disposeUsr2 = catchSignals({ signals: ['SIGUSR2', 'SIGUSR2'] });
    try {
      expect(counts()).toEqual([before[0]! + 1, before[1]! + 1, before[2]! + 1, before[3]! + 1, before[4]! + 1]);
    } finally {
      disposeDefault();
      disposeUsr2();
    }
    expect(counts()).toEqual(before);
    disposeDefault(); // idempotent
    expect(counts()).toEqual(before);
  });

  it.each([
    ['SIGUSR2', { code: 140, signal: null }, true],
    ['SIGINT', { code: null, signal: 'SIGINT' }, false],
  ] as const)("signals: ['SIGUSR2'] catches only that one: %s -> %j", async (signal, expected, handled) => {
    const result = await signalWhenReady(
      `${PREAMBLE}${REPORT}
       catchSignals({ signals: ['SIGUSR2'], handler: (signal) => say('handler', signal) });
       ${KEEP_ALIVE}
       await checkpoint('ready');`,
      signal,
    );
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual(expected);
    if (handled) {
      expect(report(result, 'handler')).toBe('SIGUSR2');
      expect(report(result, 'exit')).toEqual({ code: 140, ...PURGED });
    } else {
      expect(result.stdout).not.toContain('@@handler');
    }
  });

  it('an async handler is awaited before the exit', async () => {
    const result = await signalWhenReady(
      `${PREAMBLE}${REPORT}
       catchSignals({
         handler: async () => {
           await new Promise((resolve) => setTimeout(resolve, 300));
           say('handler done', SecretBuffer.live().buffers);
         },
       });
       ${KEEP_ALIVE}
       await checkpoint('ready');`,
      'SIGTERM',
    );
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 143, signal: null });
    expect(report(result, 'handler done')).toBe(0);
    expect(report(result, 'exit')).toEqual({ code: 143, ...PURGED });
  });

  it.each([
    ['throws', 'throw new RangeError(process.env.SECRET_TEXT);', 'strongroom: the signal handler threw: RangeError (message withheld'],
    [
      'rejects',
      'return Promise.reject(new RangeError(process.env.SECRET_TEXT));',
      'strongroom: the signal handler failed: RangeError (message withheld',
    ],
  ])('a handler that %s: still purged, exits 143, prints no message content', async (_, body, line) => {
    const secret = secretText();
    const result = await signalWhenReady(
      `${PREAMBLE}${REPORT}
       function theHandler() { ${body} }
       catchSignals({ handler: theHandler });
       ${KEEP_ALIVE}
       await checkpoint('ready');`,
      'SIGTERM',
      { ...CHILD, env: { SECRET_TEXT: secret } },
    );
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 143, signal: null });
    expect(report(result, 'exit')).toEqual({ code: 143, ...PURGED });
    expect(result.stderr).toContain(line);
    expect(result.stderr).toMatch(/^\s+at theHandler /m);
    expect(result.stderr).not.toContain(secret);
    expect(result.stderr).not.toContain('SECRET-');
  });

  it('a second signal while the handler runs exits at once, with the second signal code', async () => {
    const child = await startChild(
      `${PREAMBLE}${REPORT}
       catchSignals({
         handler: async (signal) => {
           say('first', signal);
           await checkpoint('in handler');   // never resumed
           say('handler done', signal);
         },
       });
       ${KEEP_ALIVE}
       await checkpoint('ready');`,
      CHILD,
    );
    try {
      await child.waitFor('ready');
      child.resume();
      child.kill('SIGTERM');
      await child.waitFor('in handler');
      child.kill('SIGINT');
      const result = await child.exited;
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 130, signal: null });
      expect(report(result, 'first')).toBe('SIGTERM');
      expect(result.stdout).not.toContain('@@handler done');
      expect(report(result, 'exit')).toEqual({ code: 130, ...PURGED });
    } finally {
      child.kill();
    }
  });

  describe("{ purge: 'last' }: the handler first, with the secrets still there; then purge and exit", () => {
    it('the handler can open secrets; the purge happens after it, before the exit', async () => {
      const result = await signalWhenReady(
        `${PREAMBLE}${REPORT}
         catchSignals({
           purge: 'last',
           handler: async (signal) => {
             await new Promise((resolve) => setTimeout(resolve, 50));
             say('handler', { signal, live: SecretBuffer.live().buffers, enclave: opens(reportEnclave) });
           },
         });
         ${KEEP_ALIVE}
         await checkpoint('ready');`,
        'SIGTERM',
      );
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 143, signal: null });
      expect(report(result, 'handler')).toEqual({ signal: 'SIGTERM', live: 1, enclave: 'ok' });
      expect(report(result, 'exit')).toEqual({ code: 143, ...PURGED });
      expect(result.stderr).toBe('');
    });

    it('control: the default purges before the handler', async () => {
      const result = await signalWhenReady(
        `${PREAMBLE}${REPORT}
         catchSignals({ handler: (signal) => say('handler', { signal, live: SecretBuffer.live().buffers, enclave: opens(reportEnclave) }) });
         ${KEEP_ALIVE}
         await checkpoint('ready');`,
        'SIGINT',
      );
      expect(report(result, 'handler')).toEqual({ signal: 'SIGINT', live: 0, enclave: 'ERR_AUTH' });
      expect(report(result, 'exit')).toEqual({ code: 130, ...PURGED });
    });

    it('the timeout purges and exits while the handler is still running', async () => {
      const started = Date.now();
      const result = await signalWhenReady(
        `${PREAMBLE}${REPORT}
         catchSignals({
           purge: 'last',
           timeout: 300,
           handler: async () => {
             say('handler', 'started');
             await new Promise(() => {});   // never settles
           },
         });
         ${KEEP_ALIVE}
         await checkpoint('ready');`,
        'SIGTERM',
      );
      expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 143, signal: null });
      expect(report(result, 'handler')).toBe('started');
      expect(report(result, 'exit')).toEqual({ code: 143, ...PURGED });
      expect(Date.now() - started).toBeLessThan(10_000);
    });

    it('a second signal purges and exits at once, with its own code', async () => {
      const child = await startChild(
        `${PREAMBLE}${REPORT}
         catchSignals({
           purge: 'last',
           handler: async () => {
             say('handler', { live: SecretBuffer.live().buffers });
             await checkpoint('in handler');   // never resumed
           },
         });
         ${KEEP_ALIVE}
         await checkpoint('ready');`,
        CHILD,
      );
      try {
        await child.waitFor('ready');
        child.resume();
        child.kill('SIGTERM');
        await child.waitFor('in handler');
        child.kill('SIGINT');
        const result = await child.exited;
        expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 130, signal: null });
        expect(report(result, 'handler')).toEqual({ live: 1 });
        expect(report(result, 'exit')).toEqual({ code: 130, ...PURGED });
      } finally {
        child.kill();
      }
    });
  });

  describe('option validation (ERR_INVALID_ARG, and no listener left behind)', () => {
    // Runs here: it sends no signal. If catchSignals wrongly accepts, its listeners are removed.
    function codeFor(options: unknown): string | undefined {
      return errorCode(() => {
        const dispose = (catchSignals as (options?: unknown) => () => void)(options);
        dispose();
      });
    }

    it.each([
      ['an unknown option', { signal: ['SIGTERM'] }],
      ['an unknown option next to valid ones', { signals: ['SIGTERM'], onSignal: () => {} }],
      ['SIGKILL', { signals: ['SIGKILL'] }],
      ['SIGSTOP', { signals: ['SIGTERM', 'SIGSTOP'] }],
      ["'NOPE'", { signals: ['NOPE'] }],
      ['a lower-case name', { signals: ['sigterm'] }],
      ['an Object.prototype name', { signals: ['toString'] }],
      ['a signal number', { signals: [15] }],
      ['an empty array', { signals: [] }],
      ['a string instead of an array', { signals: 'SIGTERM' }],
      ['a non-function handler', { handler: 'exit' }],
      ['a null handler', { handler: null }],
      ['a non-boolean purgeOnUncaught', { purgeOnUncaught: 'yes' }],
      ["purge: 'never'", { purge: 'never' }],
      ['purge: true', { purge: true }],
      ['timeout: 0', { timeout: 0 }],
      ['timeout: 1.5', { timeout: 1.5 }],
      ['timeout: a string', { timeout: '10s' }],
      ['timeout: past what a timer can wait', { timeout: 2 ** 31 }],
      ['null options', null],
      ['string options', 'SIGTERM'],
    ])('%s', (_, options) => {
      const before = ['SIGINT', 'SIGTERM', 'SIGHUP', 'uncaughtExceptionMonitor'].map((event) => process.listenerCount(event));
      expect(codeFor(options)).toBe('ERR_INVALID_ARG');
      expect(['SIGINT', 'SIGTERM', 'SIGHUP', 'uncaughtExceptionMonitor'].map((event) => process.listenerCount(event))).toEqual(before);
    });

    it('valid options are accepted (control)', () => {
      const valid: (CatchSignalsOptions | undefined)[] = [
        undefined,
        {},
        { signals: ['SIGTERM'] },
        { signals: ['SIGUSR2', 'SIGHUP'], handler: () => {}, purgeOnUncaught: true },
        { handler: async () => {}, purgeOnUncaught: false },
        { purge: 'last', timeout: 1 },
        { purge: 'first', timeout: 2 ** 31 - 1 },
      ];
      for (const options of valid) expect(codeFor(options)).toBeUndefined();
    });
  });
});

describe('catchSignals({ purgeOnUncaught })', () => {
  const THROW = `setTimeout(() => { throw new Error('uncaught'); }, 10);`;
  const REJECT = `setTimeout(() => { Promise.reject(new Error('unhandled')); }, 10);`;

  it.each([
    ['an uncaught exception, purgeOnUncaught: true', 'purges', `catchSignals({ purgeOnUncaught: true });`, THROW, PURGED],
    ['an unhandled rejection, purgeOnUncaught: true', 'purges', `catchSignals({ purgeOnUncaught: true });`, REJECT, PURGED],
    ['an uncaught exception, default options (control)', 'does not purge', `catchSignals();`, THROW, NOT_PURGED],
    ['an unhandled rejection, purgeOnUncaught: false (control)', 'does not purge', `catchSignals({ purgeOnUncaught: false });`, REJECT, NOT_PURGED],
    ['an uncaught exception after the disposer ran', 'does not purge', `catchSignals({ purgeOnUncaught: true })();`, THROW, NOT_PURGED],
  ])('%s: %s, and the exit code stays 1', async (_, __, setup, trigger, expected) => {
    const result = await runNode(`${PREAMBLE}${REPORT}\n${setup}\n${trigger}`, CHILD);
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 1, signal: null });
    expect(report(result, 'exit')).toEqual({ code: 1, ...expected });
    expect(result.stderr).toMatch(/Error: (uncaught|unhandled)/); // Node's own report: it did die of it
  });

  it("no purge when the program's own 'uncaughtException' listener keeps the process alive", async () => {
    const result = await runNode(
      `${PREAMBLE}${REPORT}
       catchSignals({ purgeOnUncaught: true });
       process.on('uncaughtException', (error) => say('caught', error.message));
       ${THROW}
       setTimeout(() => say('still running', SecretBuffer.live().buffers), 100);`,
      CHILD,
    );
    expect({ code: result.code, signal: result.signal }, result.stderr).toEqual({ code: 0, signal: null });
    expect(report(result, 'caught')).toBe('uncaught');
    expect(report(result, 'still running')).toBe(1);
    expect(report(result, 'exit')).toEqual({ code: 0, ...NOT_PURGED });
  });
});
