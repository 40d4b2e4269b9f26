import { describe, expect, it } from 'vitest';

import { hammerSealing, type HammerOptions } from '../src/index.js';

// A stand-in sealing layer in plain JS: "sealing" XORs with 0x5a; the main thread counts a
// "rekey" every millisecond. BREAK_OWN / BREAK_CROSS make opening fail in a worker / across threads.
const layer = (breakOwn = false, breakCross = false): string => `
import { isMainThread } from 'node:worker_threads';
let count = 0;
const seal = (plain) => Uint8Array.from(plain, (byte) => byte ^ 0x5a);
const toBytes = (sealed) => sealed;
const fromBytes = (bytes) => (${breakCross} ? bytes.map((byte) => byte ^ 1) : bytes);
const opensTo = (sealed, plain) => {
  if (${breakOwn} && !isMainThread && plain[0] < 16) return false;
  return Buffer.from(sealed.map((byte) => byte ^ 0x5a)).equals(plain);
};
const rekey = () => { count++; };
const rekeys = () => count;
const setup = () => { setInterval(() => count++, 1).unref(); };
`;

const QUICK: HammerOptions = { workers: 2, ms: 300, size: 16, minOps: 100, minCrossOps: 2, minRekeys: 20, timeoutMs: 20_000 };

describe('hammerSealing', () => {
  it('resolves with the figures of every worker when nothing is lost', async () => {
    const result = await hammerSealing(layer(), QUICK);
    expect(result.threads).toHaveLength(2);
    for (const thread of result.threads) {
      expect(thread).toMatchObject({ bad: 0, crossBad: 0 });
      expect(thread.ops).toBeGreaterThan(100);
      expect(thread.crossOps).toBeGreaterThan(2);
    }
    expect(result.rekeys).toBeGreaterThan(20);
  });

  it('fails when secrets do not open in their own thread, or in the main thread', async () => {
    await expect(hammerSealing(layer(true), QUICK)).rejects.toThrow(/worker 1: \d+ of \d+ secrets did not open to their bytes in the worker/);
    await expect(hammerSealing(layer(false, true), QUICK)).rejects.toThrow(
      /worker 1: \d+ of \d+ secrets did not open to their bytes in the main thread/,
    );
  });

  it('fails on too few operations or rekeys, and on a child that fails', async () => {
    await expect(hammerSealing(layer(), { ...QUICK, minOps: 1e12, minRekeys: 1e12 })).rejects.toThrow(
      /worker 1: \d+ operations, expected more than 1000000000000;.* rekeys, expected more than 1000000000000/,
    );
    await expect(hammerSealing(`throw new Error('no layer here');`, QUICK)).rejects.toThrow(
      /hammerSealing: the child exited with code 1 and wrote to stderr\nchild stderr:[^]*no layer here/,
    );
    await expect(hammerSealing(layer(), { ...QUICK, workers: 0 })).rejects.toThrow(RangeError);
  });
});
