// SecretBuffer in-process: construction, scopes, state, operations and the error
// matrix. The root config runs this file in 'direct' and in 'copy' view mode.
import { describe, expect, it } from 'vitest';

import { stats } from '@strongroom/core-native';
import { bytesOf, errorCode, runNode } from '@strongroom/testkit';

import { hashPassword, SecretBuffer, StrongroomError } from '../src/index.js';
import { CHILD, COPY_MODE } from './helpers.js';

describe('construction', () => {
  it('alloc is zero-filled, random is not, both noaccess outside a scope', () => {
    const zeros = SecretBuffer.alloc(16);
    const random = SecretBuffer.random(16);
    expect(zeros.size).toBe(16);
    expect(bytesOf(zeros)).toEqual(new Array(16).fill(0));
    expect(bytesOf(random).some((b) => b !== 0)).toBe(true);
    expect(bytesOf(random)).not.toEqual(bytesOf(SecretBuffer.random(16)));
    zeros.destroy();
    random.destroy();
  });

  it('from copies the bytes in and wipes the source by default', () => {
    const source = new Uint8Array([1, 2, 3, 4]);
    const buffer = SecretBuffer.from(source);
    expect(bytesOf(buffer)).toEqual([1, 2, 3, 4]);
    expect(Array.from(source)).toEqual([0, 0, 0, 0]);
    const kept = new Uint8Array([5, 6]);
    const other = SecretBuffer.from(kept, { wipeSource: false });
    expect(Array.from(kept)).toEqual([5, 6]);
    expect(bytesOf(other)).toEqual([5, 6]);
    buffer.destroy();
    other.destroy();
  });

  it.each([
    ['alloc(0)', () => SecretBuffer.alloc(0)],
    ['alloc(-1)', () => SecretBuffer.alloc(-1)],
    ['alloc(1.5)', () => SecretBuffer.alloc(1.5)],
    ["alloc('8')", () => SecretBuffer.alloc('8' as never)],
    ['random(NaN)', () => SecretBuffer.random(Number.NaN)],
    ["from('secret')", () => SecretBuffer.from('secret' as never)],
    ['from([1, 2])', () => SecretBuffer.from([1, 2] as never)],
    ['from(empty)', () => SecretBuffer.from(new Uint8Array(0))],
    ['alloc(8, { backend: "swap" })', () => SecretBuffer.alloc(8, { backend: 'swap' as never })],
    ['new SecretBuffer()', () => new SecretBuffer(Symbol('x'), {} as never)],
  ])('%s gets ERR_INVALID_ARG and leaves nothing behind', (_, make) => {
    const before = SecretBuffer.live().buffers;
    const regions = stats().regions;
    expect(errorCode(make)).toBe('ERR_INVALID_ARG');
    expect(SecretBuffer.live().buffers).toBe(before);
    expect(stats().regions).toBe(regions);
  });

  it('errors are instances of the re-exported StrongroomError', () => {
    expect(() => SecretBuffer.alloc(0)).toThrow(StrongroomError);
  });

  it('a misspelt option is an error, not the default: from(bytes, { wipesource: false }) wipes nothing', () => {
    const source = new Uint8Array([1, 2, 3]);
    const before = SecretBuffer.live().buffers;
    expect(errorCode(() => SecretBuffer.from(source, { wipesource: false } as never))).toBe('ERR_INVALID_ARG');
    expect(Array.from(source)).toEqual([1, 2, 3]);
    expect(SecretBuffer.live().buffers).toBe(before);
    expect(errorCode(() => SecretBuffer.fromFd(0, { maxsize: 1 } as never))).toBe('ERR_INVALID_ARG');
  });

  it('from() of a string says why strings are refused', () => {
    expect(() => SecretBuffer.from('x' as never)).toThrow(/can never be wiped/);
  });
});

describe('scopes', () => {
  it('read returns what fn returns; the view is empty once the scope ends', () => {
    const buffer = SecretBuffer.from(new Uint8Array([9, 8, 7]));
    let kept: Uint8Array | undefined;
    const sum = buffer.read((view) => {
      kept = view;
      return view.reduce((a, b) => a + b, 0);
    });
    expect(sum).toBe(24);
    expect(kept!.length).toBe(0);
    expect(kept![0]).toBeUndefined();
    buffer.destroy();
  });

  it('write changes the bytes; a read afterwards sees them', () => {
    const buffer = SecretBuffer.alloc(4);
    buffer.write((view) => view.set([1, 2, 3, 4]));
    expect(bytesOf(buffer)).toEqual([1, 2, 3, 4]);
    buffer.destroy();
  });

  it('read scopes nest and count; the bytes stay readable until the last one ends', () => {
    const buffer = SecretBuffer.from(new Uint8Array([1, 2]));
    let outerView: Uint8Array | undefined;
    buffer.read((outer) => {
      outerView = outer;
      buffer.read((inner) => expect(Array.from(inner)).toEqual([1, 2]));
      expect(Array.from(outer)).toEqual([1, 2]); // still open after the inner scope ended
    });
    expect(outerView!.length).toBe(0);
    buffer.destroy();
  });

  it('a write scope inside a read scope (and the reverse) throws ERR_BUSY and weakens nothing', () => {
    const buffer = SecretBuffer.from(new Uint8Array([1]));
    buffer.read(() => expect(errorCode(() => buffer.write(() => 0))).toBe('ERR_BUSY'));
    buffer.write(() => expect(errorCode(() => buffer.read(() => 0))).toBe('ERR_BUSY'));
    buffer.write((outer) => buffer.write((inner) => inner.set([5]))); // writes nest too
    expect(bytesOf(buffer)).toEqual([5]);
    buffer.destroy();
  });

  it('an exception in fn ends the scope and propagates', () => {
    const buffer = SecretBuffer.alloc(2);
    let kept: Uint8Array | undefined;
    expect(() =>
      buffer.write((view) => {
        kept = view;
        view[0] = 3;
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(kept!.length).toBe(0);
    expect(bytesOf(buffer)).toEqual([3, 0]);
    expect(() => buffer.write(() => undefined)).not.toThrow(); // not left busy
    buffer.destroy();
  });

  it('an async fn keeps the scope open until its promise settles', async () => {
    const buffer = SecretBuffer.from(new Uint8Array([4, 2]));
    let kept: Uint8Array | undefined;
    const pending = buffer.read(async (view) => {
      kept = view;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return view[0]! + view[1]!;
    });
    expect(kept!.length).toBe(2); // open while pending
    expect(errorCode(() => buffer.write(() => 0))).toBe('ERR_BUSY');
    expect(buffer.read((view) => view[1])).toBe(2); // a read nests meanwhile
    expect(await pending).toBe(6);
    expect(kept!.length).toBe(0);
    await expect(
      buffer.write(async () => {
        throw new Error('late');
      }),
    ).rejects.toThrow('late');
    expect(() => buffer.write(() => undefined)).not.toThrow();
    buffer.destroy();
  });

  it('reader() and writer() are scopes that end with using', () => {
    const buffer = SecretBuffer.alloc(3);
    let kept: Uint8Array | undefined;
    {
      using view = buffer.writer();
      view.set([7, 7, 7]);
      kept = view;
      expect(errorCode(() => buffer.reader())).toBe('ERR_BUSY');
    }
    expect(kept.length).toBe(0);
    {
      using a = buffer.reader();
      using b = buffer.reader();
      expect(Array.from(a)).toEqual([7, 7, 7]);
      expect(b[2]).toBe(7);
    }
    const view = buffer.reader();
    view[Symbol.dispose]();
    view[Symbol.dispose](); // idempotent
    expect(() => buffer.write(() => undefined)).not.toThrow();
    buffer.destroy();
  });

  it('read/write need a function', () => {
    const buffer = SecretBuffer.alloc(1);
    expect(errorCode(() => buffer.read(undefined as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => buffer.write('x' as never))).toBe('ERR_INVALID_ARG');
    buffer.destroy();
  });

  it(`viewMode is ${COPY_MODE ? "'copy'" : "'direct'"} in this run`, () => {
    expect(SecretBuffer.viewMode).toBe(process.env.STRONGROOM_NO_EXTERNAL_BUFFERS === '1' ? 'copy' : 'direct');
  });
});

describe('state and operations', () => {
  it('freeze() makes write scopes and mutations throw ERR_FROZEN before touching anything; melt() undoes it', () => {
    const buffer = SecretBuffer.from(new Uint8Array([1, 2]));
    let called = false;
    buffer.freeze();
    expect(buffer.frozen).toBe(true);
    expect(
      errorCode(() =>
        buffer.write(() => {
          called = true;
        }),
      ),
    ).toBe('ERR_FROZEN');
    expect(called).toBe(false);
    for (const mutate of [() => buffer.wipe(), () => buffer.scramble(), () => buffer.copyFrom(new Uint8Array([3]))]) {
      expect(errorCode(mutate)).toBe('ERR_FROZEN');
    }
    expect(errorCode(() => buffer.writer())).toBe('ERR_FROZEN');
    expect(bytesOf(buffer)).toEqual([1, 2]); // reads are fine
    buffer.melt();
    buffer.write((view) => view.set([3], 1));
    expect(bytesOf(buffer)).toEqual([1, 3]);
    buffer.destroy();
  });

  it('equals is true only for the same bytes and the same length', () => {
    const a = SecretBuffer.from(new Uint8Array([1, 2, 3]), { wipeSource: false });
    const b = SecretBuffer.from(new Uint8Array([1, 2, 3]));
    const c = SecretBuffer.from(new Uint8Array([1, 2, 4]));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    expect(a.equals(new Uint8Array([1, 2, 3]))).toBe(true);
    expect(a.equals(new Uint8Array([1, 2]))).toBe(false);
    expect(a.equals(new Uint8Array([1, 2, 3, 0]))).toBe(false);
    expect(errorCode(() => a.equals('123' as never))).toBe('ERR_INVALID_ARG');
    c.destroy();
    expect(errorCode(() => a.equals(c))).toBe('ERR_DESTROYED');
    for (const x of [a, b]) x.destroy();
  });

  it('copyFrom and moveFrom copy at an offset; moveFrom wipes its source', () => {
    const target = SecretBuffer.alloc(5);
    const source = SecretBuffer.from(new Uint8Array([7, 8]));
    target.copyFrom(source, 1);
    expect(bytesOf(target)).toEqual([0, 7, 8, 0, 0]);
    expect(bytesOf(source)).toEqual([7, 8]);
    target.moveFrom(source, 3);
    expect(bytesOf(target)).toEqual([0, 7, 8, 7, 8]);
    expect(bytesOf(source)).toEqual([0, 0]);
    const bytes = new Uint8Array([9]);
    target.moveFrom(bytes);
    expect(Array.from(bytes)).toEqual([0]);
    expect(bytesOf(target)).toEqual([9, 7, 8, 7, 8]);
    expect(errorCode(() => target.copyFrom(source, 4))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.copyFrom(new Uint8Array(6)))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.copyFrom(source, -1))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.copyFrom([1] as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.moveFrom(target))).toBe('ERR_INVALID_ARG');
    source.freeze();
    expect(errorCode(() => target.moveFrom(source))).toBe('ERR_FROZEN');
    expect(bytesOf(target)).toEqual([9, 7, 8, 7, 8]); // nothing was copied
    for (const x of [target, source]) x.destroy();
  });

  it('copyFrom with a range copies part of a SecretBuffer, and checks the range', () => {
    const target = SecretBuffer.alloc(4);
    const source = SecretBuffer.from(new Uint8Array([1, 2, 3, 4, 5]));
    target.copyFrom(source, 1, { sourceOffset: 2 });
    expect(bytesOf(target)).toEqual([0, 3, 4, 5]);
    target.copyFrom(source, 0, { sourceOffset: 4, length: 1 });
    expect(bytesOf(target)).toEqual([5, 3, 4, 5]);
    target.copyFrom(source, 3, { length: 0 });
    expect(bytesOf(target)).toEqual([5, 3, 4, 5]);
    expect(errorCode(() => target.copyFrom(source, 0, { sourceOffset: 6 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.copyFrom(source, 0, { sourceOffset: 1, length: 5 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.copyFrom(source, 2, { sourceOffset: 2 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.copyFrom(source, 0, { from: 1 } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => target.copyFrom(new Uint8Array(1), 0, { length: 1 }))).toBe('ERR_INVALID_ARG');
    expect(bytesOf(target)).toEqual([5, 3, 4, 5]);
    for (const x of [target, source]) x.destroy();
  });

  it('mutations and native reads refuse to run across an open scope', () => {
    const buffer = SecretBuffer.from(new Uint8Array([1]));
    const other = SecretBuffer.alloc(1);
    buffer.read(() => {
      expect(errorCode(() => buffer.wipe())).toBe('ERR_BUSY');
      expect(buffer.equals(new Uint8Array([1]))).toBe(true); // reading while reading is fine
    });
    buffer.write(() => {
      expect(errorCode(() => buffer.equals(other))).toBe('ERR_BUSY');
      expect(errorCode(() => other.copyFrom(buffer))).toBe('ERR_BUSY');
    });
    for (const x of [buffer, other]) x.destroy();
  });

  it('scramble and wipe', () => {
    const buffer = SecretBuffer.alloc(32);
    buffer.scramble();
    expect(bytesOf(buffer).some((b) => b !== 0)).toBe(true);
    buffer.wipe();
    expect(bytesOf(buffer).every((b) => b === 0)).toBe(true);
    buffer.destroy();
  });
});

describe("a scope's view as the source of what wipes its source", () => {
  // from() and moveFrom() wipe their source; a scope's view is another secret's memory
  // (read-only in a read scope): a slab neighbour made writable by the new allocation was
  // wiped to zeros, frozen or not, and an isolated one faulted (SIGSEGV).
  it.each([
    ['shared (a slab slot)', {}],
    ['isolated', { isolated: true }],
  ] as const)('%s: SecretBuffer.from(view) and moveFrom(view) are ERR_INVALID_ARG, and the secret is intact', (_, options) => {
    const a = SecretBuffer.from(Uint8Array.of(1, 2, 3, 4), options).freeze();
    const b = SecretBuffer.alloc(4);
    const buffers = SecretBuffer.live().buffers;
    expect(a.read((view) => errorCode(() => SecretBuffer.from(view)))).toBe('ERR_INVALID_ARG');
    expect(a.read((view) => errorCode(() => b.moveFrom(view)))).toBe('ERR_INVALID_ARG');
    expect(SecretBuffer.live().buffers).toBe(buffers);
    expect(bytesOf(a)).toEqual([1, 2, 3, 4]);
    // what to do instead: copy without wiping
    const copied = a.read((view) => SecretBuffer.from(view, { wipeSource: false }));
    expect(bytesOf(copied)).toEqual([1, 2, 3, 4]);
    b.copyFrom(a);
    expect(bytesOf(b)).toEqual([1, 2, 3, 4]);
    for (const x of [a, b, copied]) x.destroy();
  });

  it("copy view mode: a 'heap' buffer's scope first, then a native one's inside it, leaves the heap secret intact", async () => {
    // The mode was one global set by the first region viewed: a 'heap' region's view set it to
    // 'direct', a native scope then flipped it to 'copy', and the heap scope's end took the
    // region's own memory for a copy and wiped it (and threw ERR_VIEW_ESCAPED).
    const result = await runNode(
      `import { SecretBuffer } from '@strongroom/buffer';
       const h = SecretBuffer.from(Uint8Array.of(1, 2, 3, 4), { backend: 'heap' });
       const n = SecretBuffer.from(Uint8Array.of(9, 9));
       let code = 'none';
       try { h.read(() => n.read(() => 0)); } catch (e) { code = e.code; }
       console.log(JSON.stringify({ code, h: h.read((v) => [...v]), n: n.read((v) => [...v]), mode: SecretBuffer.viewMode }));`,
      { ...CHILD, env: { STRONGROOM_NO_EXTERNAL_BUFFERS: '1' } },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim().split('\n').at(-1) as string)).toEqual({ code: 'none', h: [1, 2, 3, 4], n: [9, 9], mode: 'copy' });
  });

  it('a number given where a SecretBuffer is expected is not echoed (it may be a PIN)', async () => {
    const refused = await hashPassword(987654 as never).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(StrongroomError);
    expect((refused as StrongroomError).code).toBe('ERR_INVALID_ARG');
    expect((refused as StrongroomError).message).toContain('a number');
    expect((refused as StrongroomError).message).not.toContain('987654');
  });
});

describe('destroy', () => {
  const uses: Array<[string, (b: SecretBuffer) => unknown]> = [
    ['read', (b) => b.read(() => 0)],
    ['write', (b) => b.write(() => 0)],
    ['reader', (b) => b.reader()],
    ['writer', (b) => b.writer()],
    ['equals', (b) => b.equals(new Uint8Array(1))],
    ['hmac', (b) => b.hmac('sha256', 'message')],
    ['hmacVerify', (b) => b.hmacVerify('sha256', 'message', new Uint8Array(32))],
    ['copyFrom', (b) => b.copyFrom(new Uint8Array(1))],
    ['moveFrom', (b) => b.moveFrom(new Uint8Array(1))],
    ['scramble', (b) => b.scramble()],
    ['wipe', (b) => b.wipe()],
    ['freeze', (b) => b.freeze()],
    ['melt', (b) => b.melt()],
  ];
  it.each(uses)('%s after destroy() throws ERR_DESTROYED', (_, use) => {
    const buffer = SecretBuffer.alloc(1);
    buffer.destroy();
    buffer.destroy(); // idempotent
    expect(buffer.destroyed).toBe(true);
    expect(errorCode(() => use(buffer))).toBe('ERR_DESTROYED');
  });

  it('destroy() inside a scope empties the view; the scope ends quietly', () => {
    const buffer = SecretBuffer.from(new Uint8Array([1, 2]));
    let kept: Uint8Array | undefined;
    buffer.read((view) => {
      kept = view;
      buffer.destroy();
      expect(view.length).toBe(0);
    });
    expect(kept!.length).toBe(0);
  });

  it('using destroys; live() and destroyAll() see every buffer', () => {
    const before = SecretBuffer.live();
    {
      using a = SecretBuffer.alloc(10);
      expect(a.size).toBe(10);
      expect(SecretBuffer.live()).toEqual({ buffers: before.buffers + 1, bytes: before.bytes + 10 });
    }
    expect(SecretBuffer.live()).toEqual(before);
    const made = [SecretBuffer.alloc(1), SecretBuffer.random(2), SecretBuffer.alloc(3)];
    const regions = stats().regions;
    expect(SecretBuffer.destroyAll()).toBe(before.buffers + 3);
    expect(made.every((b) => b.destroyed)).toBe(true);
    expect(SecretBuffer.live()).toEqual({ buffers: 0, bytes: 0 });
    expect(stats().regions).toBe(regions - before.buffers - 3);
    // Still usable afterwards.
    const after = SecretBuffer.random(4);
    expect(after.size).toBe(4);
    after.destroy();
  });
});
