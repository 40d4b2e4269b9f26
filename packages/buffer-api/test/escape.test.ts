// Scopes that let a view escape, and scopes that must end whatever fn does (issue 9, items
// 1-3). This file runs in direct and in copy view mode (the root vitest config runs the
// buffer suite twice). Direct mode: core-native moves the secret to fresh pages, the moved
// view shows zeros, nothing is lost. Copy mode: the moved heap copy is beyond reach, so it
// keeps what it held and a write scope's changes are not written back. Both: the scope
// throws ERR_VIEW_ESCAPED and the region is 'noaccess' again.
import { asyncErrorCode, bytesOf, errorCode } from '@strongroom/testkit';
import { afterEach, describe, expect, it } from 'vitest';

import { COPY_MODE } from './helpers.js';

import { SecretBuffer } from '../src/index.js';
import { internals } from '../src/secret-buffer.js';

const HAS_TRANSFER = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';

afterEach(() => {
  SecretBuffer.destroyAll();
});

function protectionOf(buffer: SecretBuffer): string {
  return internals.idleRegionOf(buffer).protection;
}

describe(`a view moved out of a scope (${COPY_MODE ? 'copy' : 'direct'} view mode)`, () => {
  it('a BYOB read into a write scope: ERR_VIEW_ESCAPED, and the moved view never shows the next secret', async () => {
    const source = new ReadableStream({
      type: 'bytes',
      pull(controller) {
        controller.enqueue(new Uint8Array(32).fill(0x42));
        controller.close();
      },
    });
    const reader = source.getReader({ mode: 'byob' });
    const token = SecretBuffer.alloc(32);
    let filled: Uint8Array | undefined;
    const code = await asyncErrorCode(() =>
      token.write(async (view) => {
        ({ value: filled } = await reader.read(view));
      }),
    );
    expect(code).toBe('ERR_VIEW_ESCAPED');
    expect(protectionOf(token)).toBe('noaccess');
    const moved = filled as Uint8Array;
    if (COPY_MODE) {
      expect(bytesOf(token)).toEqual(new Array(32).fill(0)); // the moved copy's bytes were not written back
      expect(moved[0]).toBe(0x42); // and strongroom could not wipe them (the error says so)
    } else {
      expect(bytesOf(token)).toEqual(new Array(32).fill(0x42)); // nothing lost
      expect(Array.from(moved)).toEqual(new Array(32).fill(0)); // the moved view shows zeros
    }
    const before = Array.from(moved);
    token.destroy();
    const next = SecretBuffer.random(32);
    expect(Array.from(moved)).toEqual(before); // the freed memory was not reused under it
    moved.fill(7);
    expect(bytesOf(next)).not.toEqual(new Array(32).fill(7));
  });

  it("a byte stream's enqueue() in a read scope: the chunk read after the scope does not crash and holds no secret", async () => {
    const secret = SecretBuffer.from(new Uint8Array(16).fill(0x5a));
    let controller: ReadableByteStreamController | undefined;
    const stream = new ReadableStream({
      type: 'bytes',
      start(c) {
        controller = c;
      },
    });
    expect(errorCode(() => secret.read((view) => controller?.enqueue(view)))).toBe('ERR_VIEW_ESCAPED');
    expect(protectionOf(secret)).toBe('noaccess');
    const { value } = await stream.getReader().read();
    const chunk = value as Uint8Array;
    expect(chunk.length).toBe(16);
    // Direct mode: zeros (the secret moved). Copy mode: the copy the caller moved away.
    expect(chunk[0]).toBe(COPY_MODE ? 0x5a : 0);
    expect(bytesOf(secret)).toEqual(new Array(16).fill(0x5a));
  });

  it.skipIf(!HAS_TRANSFER)('transfer() in a scope, then a nested scope: a fresh view, and the move is still reported', () => {
    // (transfer() exists from Node 22 on.)
    const secret = SecretBuffer.from(new Uint8Array(8).fill(3));
    let moved: ArrayBuffer | undefined;
    const code = errorCode(() =>
      secret.read((outer) => {
        moved = (outer.buffer as ArrayBuffer & { transfer(): ArrayBuffer }).transfer();
        secret.read((inner) => expect(Array.from(inner)).toEqual(new Array(8).fill(3)));
      }),
    );
    expect(code).toBe('ERR_VIEW_ESCAPED');
    expect(new Uint8Array(moved as ArrayBuffer)[0]).toBe(COPY_MODE ? 3 : 0);
    expect(protectionOf(secret)).toBe('noaccess');
    expect(bytesOf(secret)).toEqual(new Array(8).fill(3));
  });

  it('a positive control: a scope whose view stays put throws nothing', () => {
    const secret = SecretBuffer.from(new Uint8Array(4).fill(1));
    let kept: Uint8Array | undefined;
    expect(errorCode(() => secret.read((view) => (kept = view)))).toBeUndefined();
    expect(kept?.length).toBe(0);
  });
});

describe('a scope ends whatever fn returns', () => {
  it.each([
    ['a thenable whose `then` getter throws', () => ({
      get then(): never {
        throw new Error('then getter');
      },
    })],
    ['a revoked Proxy', () => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    }],
  ])('%s: read() throws, the view is detached and a later write() works', (_, make) => {
    const secret = SecretBuffer.alloc(4);
    let seen: Uint8Array | undefined;
    expect(() =>
      secret.read((view) => {
        seen = view;
        return make();
      }),
    ).toThrow();
    expect(seen?.length).toBe(0);
    expect(protectionOf(secret)).toBe('noaccess');
    secret.write((view) => view.fill(9));
    expect(bytesOf(secret)).toEqual([9, 9, 9, 9]);
  });
});
