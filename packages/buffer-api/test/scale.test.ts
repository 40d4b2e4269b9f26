// Small secrets at scale (issue 12): 100,000 live SecretBuffer.random(32) in a child without
// CAP_IPC_LOCK under RLIMIT_MEMLOCK of 8 MiB (what an ordinary user has), each readable and
// intact, then all destroyed with locked bytes and strongroom's mappings back at their
// baseline. strongroom's mappings are counted in /proc/self/smaps by their MADV_DONTDUMP
// flag ('dd'), which no mapping of Node or V8 has. A control shows that isolated regions
// (a page and two mappings each) meet the limit long before.
import { runNode } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { CHILD } from './helpers.js';

const LIMITED = { ...CHILD, memlockBytes: 8 * 1024 * 1024, dropIpcLock: true, timeoutMs: 120_000 };
const ISOLATED_DEFAULT = process.env.STRONGROOM_ISOLATED === '1';

const PRELUDE = `
import { SecretBuffer } from '@strongroom/buffer';
import { stats } from '@strongroom/core-native';
import { readFileSync } from 'node:fs';
const guardedMappings = () => readFileSync('/proc/self/smaps', 'utf8').split('\\n').filter((l) => l.startsWith('VmFlags:') && / dd( |$)/.test(l)).length;
`;

async function report(body: string, env: Record<string, string | undefined> = {}): Promise<Record<string, unknown>> {
  const result = await runNode(`${PRELUDE}\n${body}`, { ...LIMITED, env: { STRONGROOM_ISOLATED: undefined, ...env } });
  expect(result.signal, result.stderr).toBeNull();
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

describe.skipIf(ISOLATED_DEFAULT)('100,000 live secrets under an 8 MiB memlock limit, without CAP_IPC_LOCK (slabs)', () => {
  it('all are made, each readable and intact, and destroying them gives back every locked byte and mapping', async () => {
    const result = await report(`
      const base = stats();
      const baseMappings = guardedMappings();
      const N = 100_000;
      const buffers = [];
      for (let i = 0; i < N; i++) buffers.push(SecretBuffer.random(32));
      const live = stats();
      const liveMappings = guardedMappings();
      // A fingerprint of each (its first 6 bytes and a sum), read once, then again after every other buffer was made.
      const fingerprint = (b) => b.read((v) => v.length + ':' + Buffer.from(v.subarray(0, 6)).toString('hex') + ':' + v.reduce((s, x) => s + x, 0));
      const first = buffers.map(fingerprint);
      const extra = Array.from({ length: 1000 }, () => SecretBuffer.random(32));
      for (const b of extra) b.destroy();
      const intact = buffers.every((b, i) => fingerprint(b) === first[i]);
      const distinct = new Set(first).size;
      const lengths = first.every((f) => f.startsWith('32:'));
      for (const b of buffers) b.destroy();
      const after = stats();
      console.log(JSON.stringify({
        made: buffers.length, intact, distinct, lengths,
        lockedUnderLimit: live.bytesLocked <= 8 * 1024 * 1024,
        slotsInUse: live.slabs.classes[1].slotsInUse,
        fewMappings: liveMappings - baseMappings < 2000,
        lockedBack: after.bytesLocked === base.bytesLocked,
        regionsBack: after.regions === base.regions,
        slabsLeft: after.slabs.count - after.slabs.empty,
        mappingsBack: guardedMappings() - baseMappings <= 10 * after.slabs.empty,
      }));`);
    expect(result).toEqual({
      made: 100_000,
      intact: true,
      distinct: 100_000,
      lengths: true,
      lockedUnderLimit: true,
      slotsInUse: 100_000,
      fewMappings: true,
      lockedBack: true,
      regionsBack: true,
      slabsLeft: 0,
      mappingsBack: true,
    });
  });
});

describe('a control: isolated regions', () => {
  it('meet ERR_MLOCK_LIMIT after about 2,000 secrets under the same limit', async () => {
    const result = await report(`
      const buffers = [];
      let code;
      try { for (let i = 0; i < 100_000; i++) buffers.push(SecretBuffer.random(32, { isolated: true })); } catch (e) { code = e.code; }
      const made = buffers.length;
      for (const b of buffers) b.destroy();
      console.log(JSON.stringify({ code, below: made < 2100 && made > 1000 }));`);
    expect(result).toEqual({ code: 'ERR_MLOCK_LIMIT', below: true });
  });
});
