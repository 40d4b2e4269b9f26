// SecretBuffer.random(32) in a loop, as a program would keep per-session secrets, until the
// mapping limit (issue 12): before core-native's mapping budget this ended the process with
// "terminate called after throwing an instance of 'std::bad_alloc'" (exit 134) at about
// 32,700 live buffers, thrown by V8's garbage collector once the process had reached
// vm.max_map_count. Now the loop ends with a typed ERR_MAPPING_LIMIT and the process goes on:
// it allocates ordinary memory, serves an HTTP request, destroys everything (the figures back
// at their baseline) and exits normally. The machine's own vm.max_map_count is used (it is
// system-wide: never changed here); each child takes about 4 s. The buffers are isolated
// ({ isolated: true }: pages of their own), as every SecretBuffer was before slabs: on slabs
// (10 mappings per 682 secrets of 32 bytes) the loop would need millions of buffers to get there.
import fs from 'node:fs';

import { PROCESS_GOES_ON, runNode, userCanRead, type ChildOptions } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { CHILD } from './helpers.js';

const isRoot = process.getuid?.() === 0;
// As root the non-root child runs as 'nobody', which must be able to read this checkout.
const NOBODY_READS = isRoot && userCanRead('nobody', new URL('../package.json', import.meta.url).pathname);
const MAX_MAP_COUNT = Number(fs.readFileSync('/proc/sys/vm/max_map_count', 'utf8'));

const PROGRAM = (setup: string): string => `
  import { SecretBuffer } from '@strongroom/buffer';
  import * as core from '@strongroom/core-native';
  import fs from 'node:fs';
  const processMappings = () => fs.readFileSync('/proc/self/maps', 'utf8').trim().split('\\n').length;
  ${setup}
  const before = core.stats();
  const processBefore = processMappings();
  const held = [];
  let error;
  try {
    for (;;) held.push(SecretBuffer.random(32, { isolated: true }));
  } catch (e) {
    error = e;
  }
  const atLimit = core.stats();
  const processAtLimit = processMappings();
  const readable = held.every((b, i) => b.read((view) => view.length === 32 && (i > 0 || view.some((x) => x !== 0))));
  ${PROCESS_GOES_ON}
  const destroyed = SecretBuffer.destroyAll();
  core.releaseSpareRegions();
  const after = core.stats();
  console.log(JSON.stringify({
    name: error?.name, code: error?.code, message: String(error?.message), count: held.length, uid: process.getuid(),
    live: destroyed, readable, mappings: atLimit.mappings, budget: atLimit.mappingBudget, processAtLimit,
    grew: processAtLimit - processBefore, ordinary, answer,
    back: { regions: after.regions - before.regions, mappings: after.mappings - before.mappings,
            bytesLocked: after.bytesLocked - before.bytesLocked, bytesUnlocked: after.bytesUnlocked - before.bytesUnlocked,
            liveBuffers: SecretBuffer.live().buffers },
  }));`;

async function toTheLimit(setup: string, options: ChildOptions): Promise<Record<string, unknown>> {
  const result = await runNode(PROGRAM(setup), { ...CHILD, timeoutMs: 60_000, ...options });
  // The abort this replaces was signal SIGABRT (exit 134): the child must end on its own.
  expect(result.signal, result.stderr).toBeNull();
  expect(result.code, result.stderr).toBe(0);
  const out = JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
  expect(out.name).toBe('StrongroomError');
  expect(out.code, out.message as string).toBe('ERR_MAPPING_LIMIT');
  const message = out.message as string;
  expect(message).toContain(`vm.max_map_count is ${MAX_MAP_COUNT}`);
  expect(message).toContain(`budget of ${out.budget as number}`);
  expect(message).toContain('sysctl -w vm.max_map_count=');
  // buffer's own addition: how many buffers this thread holds.
  expect(message).toContain(`This thread holds ${out.count as number} SecretBuffers`);
  // Every buffer is a region of 3 counted mappings; the budget was met, not passed.
  expect(out.mappings).toBe(3 * (out.count as number));
  expect((out.mappings as number) + 3).toBeGreaterThan(out.budget as number);
  expect(out.grew as number).toBeGreaterThan(2 * (out.count as number) - 64);
  expect(out.processAtLimit as number).toBeLessThan(MAX_MAP_COUNT - 4096);
  expect(out).toMatchObject({ live: out.count, readable: true, ordinary: true, answer: 'served /after-the-limit' });
  expect(out.back).toEqual({ regions: 0, mappings: 0, bytesLocked: 0, bytesUnlocked: 0, liveBuffers: 0 });
  return out;
}

describe('SecretBuffer.random(32) until the mapping limit', () => {
  it.skipIf(!isRoot)('as root: ERR_MAPPING_LIMIT, not an abort; the process then allocates, serves a request and exits normally', async () => {
    const out = await toTheLimit('', {});
    expect(out.uid).toBe(0);
  });

  // An ordinary user's 8 MiB RLIMIT_MEMLOCK holds 2,048 locked pages: under 'require' the
  // loop meets ERR_MLOCK_LIMIT first (pressure.test.ts). Under 'best-effort' (the policy for
  // a small limit) it goes on with unlocked pages and meets the mapping limit. As root the
  // child runs as 'nobody' (testkit's `user`) under that 8 MiB.
  it.skipIf(isRoot && !NOBODY_READS)(`as a user who is not root${isRoot ? " ('nobody')" : ''}, under 'best-effort' and an 8 MiB memlock: the same${isRoot && !NOBODY_READS ? " (skipped: 'nobody' cannot read this checkout, e.g. a clone in a 0700 folder; the unprivileged suite covers a user who is not root)" : ''}`, async () => {
    const out = await toTheLimit(`core.configure({ mlock: 'best-effort' });`, {
      memlockBytes: 8 << 20,
      ...(isRoot ? { user: 'nobody' } : {}),
    });
    expect(out.uid).not.toBe(0);
  });
});
