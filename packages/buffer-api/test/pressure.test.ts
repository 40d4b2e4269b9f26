// Buffers dropped without destroy() under a memory limit (issue 9, item 7): the regions of
// buffers the garbage collector has collected are freed at once when an allocation meets
// the limit (their clean-up callbacks run only between tasks), and when nothing can be
// reclaimed the error says how many buffers this thread still holds. Also: moveFrom() of a
// detached array is a typed error. Children run without CAP_IPC_LOCK under a 64 KiB limit.
import { errorCode, runNode } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { CHILD } from './helpers.js';

import { SecretBuffer } from '../src/index.js';

const LIMITED = { ...CHILD, memlockBytes: 64 * 1024, dropIpcLock: true, args: ['--expose-gc'] };

async function report(body: string): Promise<Record<string, unknown>> {
  const result = await runNode(
    `import { SecretBuffer } from '@strongroom/buffer';
     import { setImmediate as nextTask } from 'node:timers/promises';
     const fill = () => { const held = []; try { for (;;) held.push(SecretBuffer.alloc(32, { backend: 'mmap' })); } catch (e) { if (e.code !== 'ERR_MLOCK_LIMIT') throw e; } return held; };
     ${body}`,
    LIMITED,
  );
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

describe('SecretBuffers dropped without destroy() at the memlock limit', () => {
  it('collected ones are reclaimed at once: the next allocation succeeds before their clean-up has run', async () => {
    const result = await report(`
      let held = fill();
      const count = held.length;
      held = undefined;
      await nextTask();        // a new task: nothing keeps the dropped buffers alive now
      globalThis.gc();         // collected; their clean-up callbacks have not run yet
      const waiting = SecretBuffer.live().buffers;
      const next = SecretBuffer.alloc(32, { backend: 'mmap' });
      console.log(JSON.stringify({ filled: count > 4, waiting: waiting === count, allocated: next.size, live: SecretBuffer.live().buffers }));`);
    expect(result).toEqual({ filled: true, waiting: true, allocated: 32, live: 1 });
  });

  it('a control: without the collection, the limit is met, and the error counts the buffers still held', async () => {
    const result = await report(`
      const held = fill();
      let message = '', code;
      try { SecretBuffer.alloc(32, { backend: 'mmap' }); } catch (e) { code = e.code; message = e.message; }
      console.log(JSON.stringify({ code, counted: message.includes('This thread holds ' + held.length + ' SecretBuffers'), how: /destroy\\(\\) buffers you no longer need/.test(message) }));`);
    expect(result).toEqual({ code: 'ERR_MLOCK_LIMIT', counted: true, how: true });
  });
});

describe('a detached array', () => {
  it('moveFrom() and copyFrom() of one are ERR_INVALID_ARG, not a TypeError, and change nothing', () => {
    const target = SecretBuffer.from(Uint8Array.from([1, 2, 3, 4]));
    const source = new Uint8Array(4).fill(9);
    structuredClone(source.buffer, { transfer: [source.buffer] }); // detaches source
    expect(errorCode(() => target.moveFrom(source))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.copyFrom(source))).toBe('ERR_INVALID_ARG');
    expect(target.read((view) => Array.from(view))).toEqual([1, 2, 3, 4]);
    expect(errorCode(() => SecretBuffer.from(source))).toBe('ERR_INVALID_ARG');
    target.destroy();
  });
});
