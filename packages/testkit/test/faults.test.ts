// The fault-injection shim itself: it fails exactly the call it was told to, counts only the
// module it watches, and leaves every other call alone.
import { describe, expect, it } from 'vitest';

import { faultsEnv, faultsPreamble, runNode } from '../src/index.js';

async function child(body: string): Promise<unknown> {
  const result = await runNode(`${faultsPreamble()}\n${body}`, { env: faultsEnv() });
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim());
}

describe('the fault shim', () => {
  it('fails the nth watched call with the chosen errno, and only that one', async () => {
    const out = await child(`
      faults.watch('faults.node');
      faults.fail('mmap', 2, errno.ENOMEM);
      const results = [faults.selfTest('mmap'), faults.selfTest('mmap'), faults.selfTest('mmap')];
      console.log(JSON.stringify({ results, counts: faults.counts().mmap, ENOMEM: errno.ENOMEM }));`);
    expect(out).toEqual({ results: [0, expect.any(Number), 0], counts: 3, ENOMEM: expect.any(Number) });
    const { results, ENOMEM } = out as { results: number[]; ENOMEM: number };
    expect(results[1]).toBe(ENOMEM);
  });

  it("with every, fails that call and all later ones; getrandom too", async () => {
    const out = await child(`
      faults.watch('faults.node');
      faults.fail('getrandom', 2, errno.EIO, true);
      const results = [1, 2, 3].map(() => faults.selfTest('getrandom'));
      console.log(JSON.stringify({ results, EIO: errno.EIO }));`);
    const { results, EIO } = out as { results: number[]; EIO: number };
    expect(results).toEqual([0, EIO, EIO]);
  });

  it('counts nothing and fails nothing from another module, or once stopped (controls)', async () => {
    const out = await child(`
      faults.watch('no-such-module.node');
      faults.fail('mmap', 1, errno.ENOMEM, true);
      const other = faults.selfTest('mmap');
      const counted = faults.counts().mmap;
      faults.watch('faults.node');
      faults.fail('mmap', 1, errno.ENOMEM, true);
      faults.stop();
      const stopped = faults.selfTest('mmap');
      console.log(JSON.stringify({ other, counted, stopped }));`);
    expect(out).toEqual({ other: 0, counted: 0, stopped: 0 });
  });
});
