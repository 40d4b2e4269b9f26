// The mapping budget (ARCHITECTURE.md invariant 9; native/mappings.h). A process at
// vm.max_map_count cannot grow its heap: V8's garbage collector then ends it with
// "terminate called after throwing an instance of 'std::bad_alloc'" (measured before the
// budget: about 32,700 live regions, then any ordinary allocation). strongroom counts up to 3
// mappings per region and refuses a new region with ERR_MAPPING_LIMIT while the rest of the
// process still has its headroom. The limit is the machine's own (vm.max_map_count is
// system-wide: the tests never change it), so the children below really reach it.
import fs from 'node:fs';

import { PROCESS_GOES_ON, runNode, userCanRead, type ChildOptions } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { BACKENDS, CHILD, PREAMBLE } from './helpers.js';

const isRoot = process.getuid?.() === 0;
// As root the non-root child runs as 'nobody', which must be able to read this checkout.
const NOBODY_READS = isRoot && userCanRead('nobody', new URL('../package.json', import.meta.url).pathname);
const MAX_MAP_COUNT = Number(fs.readFileSync('/proc/sys/vm/max_map_count', 'utf8'));
// The documented rule (README "Memory mappings"), restated here to check the addon's figures.
const HEADROOM = Math.max(Math.min(4096, Math.floor(MAX_MAP_COUNT / 2)), Math.floor(MAX_MAP_COUNT / 8));

async function report(code: string, options: ChildOptions = {}): Promise<Record<string, unknown>> {
  const result = await runNode(code, { ...CHILD, timeoutMs: 60_000, ...options });
  expect(result.signal, result.stderr).toBeNull();
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

describe('the mapping figures', () => {
  it.each(BACKENDS.map((b) => [b.backend, b.available] as const))(
    '%s: each region is its own guard, data and guard mappings; stats() counts 3 per region, an upper bound of /proc/self/maps, and all come back',
    async (backend, available) => {
      if (!available) return;
      const out = await report(`${PREAMBLE}
        import fs from 'node:fs';
        const maps = () => fs.readFileSync('/proc/self/maps', 'utf8').trim().split('\\n').map((line) => {
          const [range, perms] = line.split(' ');
          const [start, end] = range.split('-').map((x) => BigInt('0x' + x));
          return { start, end, perms };
        });
        sr.releaseSpareRegions();
        const s0 = sr.stats();
        const lines0 = maps().length;
        const N = 400;
        const regions = Array.from({ length: N }, () => sr.allocate(32, { backend: '${backend}', isolated: true }));
        const s1 = sr.stats();
        const now = maps();
        // One region in the middle: the mapping holding its data ends where its data ends, and
        // the pages on either side are PROT_NONE mappings of their own (its guards).
        const at = poke.addressOf(regions[N / 2].view());
        const i = now.findIndex((m) => m.start <= at && at < m.end);
        const data = now[i], before = now[i - 1], after = now[i + 1];
        const layout = {
          dataPerms: data.perms.slice(0, 2),
          flush: data.end === at + 32n,
          guardBefore: before.end === data.start && before.perms.startsWith('---'),
          guardAfter: after.start === data.end && after.perms.startsWith('---'),
        };
        for (const r of regions) r.free();
        sr.releaseSpareRegions();
        const s2 = sr.stats();
        console.log(JSON.stringify({ N, layout, counted: s1.mappings - s0.mappings, shown: now.length - lines0,
          back: s2.mappings - s0.mappings, linesBack: maps().length - lines0, budget: s1.mappingBudget, start: s0.mappings }));`);
      const N = out.N as number;
      expect(out.layout).toEqual({ dataPerms: 'rw', flush: true, guardBefore: true, guardAfter: true });
      expect(out.counted).toBe(3 * N);
      // What the kernel shows: neighbouring guards may merge (about 2 per region), never more than counted.
      expect(out.shown).toBeGreaterThanOrEqual(2 * N - 16);
      expect(out.shown).toBeLessThanOrEqual(3 * N + 16); // + V8's own pages for the JS objects
      expect(out.start).toBe(0);
      expect(out.back).toBe(0);
      expect(out.linesBack).toBeLessThan(16);
      expect(out.budget).toBe(MAX_MAP_COUNT - HEADROOM);
    },
  );
});

// Drives a child to the limit the way a program would (allocate, fill, protect, keep), then
// checks that the process still works: ordinary memory, an HTTP request on loopback, every
// region freed and the figures back at their baseline, and a normal exit.
function toTheLimit(setup: string): string {
  return `
    import * as sr from '@strongroom/core-native';
    import fs from 'node:fs';
    const processMappings = () => fs.readFileSync('/proc/self/maps', 'utf8').trim().split('\\n').length;
    ${setup}
    sr.releaseSpareRegions();
    const before = sr.stats();
    const processBefore = processMappings();
    const held = [];
    let error;
    const started = Date.now();
    try {
      for (;;) {
        const r = sr.allocate(32, { isolated: true });
        sr.randomFill(r);
        r.protect('noaccess');
        held.push(r);
      }
    } catch (e) {
      error = e;
    }
    const seconds = (Date.now() - started) / 1000;
    // A small region that needs a new slab (10 mappings) is refused the same way.
    let slot;
    try { sr.allocate(32).free(); slot = 'allocated'; } catch (e) { slot = e.code; }
    const atLimit = sr.stats();
    const processAtLimit = processMappings();
    // The process goes on: 64 MiB in one Buffer, a million small objects, an HTTP request.
    ${PROCESS_GOES_ON}
    // A freed region gives its mappings back (spares dropped): the next one is allowed.
    held.pop().free();
    sr.releaseSpareRegions();
    const again = sr.allocate(32, { isolated: true });
    again.free();
    for (const r of held) r.free();
    sr.releaseSpareRegions();
    const after = sr.stats();
    console.log(JSON.stringify({
      name: error?.name, code: error?.code, message: String(error?.message),
      count: held.length + 1, seconds, uid: process.getuid(), slot,
      mappings: atLimit.mappings - before.mappings, budget: atLimit.mappingBudget, held: atLimit.mappings,
      processBefore, processAtLimit, processAfter: processMappings(),
      ordinary, answer,
      regionsBack: after.regions === before.regions, mappingsBack: after.mappings === before.mappings,
      lockedBack: after.bytesLocked === before.bytesLocked && after.bytesUnlocked === before.bytesUnlocked,
    }));`;
}

function expectTypedLimitAndAWorkingProcess(out: Record<string, unknown>): void {
  expect(out.name).toBe('StrongroomError');
  expect(out.code, out.message as string).toBe('ERR_MAPPING_LIMIT');
  // The message says which limit, its value, what strongroom holds, and what to change.
  const message = out.message as string;
  expect(message).toContain(`vm.max_map_count is ${MAX_MAP_COUNT}`);
  expect(message).toContain(`hold ${out.held as number} memory mappings`);
  expect(message).toContain(`budget of ${out.budget as number}`);
  expect(message).toContain('sysctl -w vm.max_map_count=');
  expect(message).toMatch(/Destroy secrets you no longer need/);
  // Refused at the budget (3 per region), with the rest of the process's headroom intact.
  expect(out.mappings).toBe(3 * (out.count as number));
  expect(out.held as number).toBeLessThanOrEqual(out.budget as number);
  expect((out.held as number) + 3).toBeGreaterThan(out.budget as number);
  expect(MAX_MAP_COUNT - (out.processAtLimit as number)).toBeGreaterThanOrEqual(HEADROOM);
  expect(out.processAtLimit as number).toBeGreaterThan((out.processBefore as number) + 2 * (out.count as number) - 64);
  expect(out).toMatchObject({ ordinary: true, answer: 'served /after-the-limit', regionsBack: true, mappingsBack: true, lockedBack: true });
  expect(out.slot).toBe('ERR_MAPPING_LIMIT');
  // Every region's mappings are gone (some 38,000 at the limit here); V8 keeps the pages its
  // heap grew by (the 64 MiB Buffer and the million objects are still referenced).
  expect(out.processAfter as number).toBeLessThan((out.processBefore as number) + 1024);
}

describe('at the mapping limit', () => {
  it.skipIf(!isRoot)('as root: allocate + randomFill in a loop ends with ERR_MAPPING_LIMIT, and the process goes on and exits normally', async () => {
    const out = await report(toTheLimit(''));
    expect(out.uid).toBe(0);
    expectTypedLimitAndAWorkingProcess(out);
  });

  // An ordinary user's RLIMIT_MEMLOCK (8 MiB: 2,048 locked pages) stops 'require' long before
  // the mapping budget (about 19,000 regions): that limit is ERR_MLOCK_LIMIT (limits.test.ts).
  // Here the user takes the 'best-effort' policy, what a container with a small limit does,
  // and meets the mapping limit. Root without CAP_SYS_RESOURCE (this machine) cannot grant a
  // larger memlock to the child; as root the child runs as 'nobody' under the default 8 MiB.
  it.skipIf(isRoot && !NOBODY_READS)(`as a user who is not root${isRoot ? " ('nobody')" : ''}, under 'best-effort': the same${isRoot && !NOBODY_READS ? " (skipped: 'nobody' cannot read this checkout, e.g. a clone in a 0700 folder; the unprivileged suite covers a user who is not root)" : ''}`, async () => {
    const out = await report(toTheLimit(`sr.configure({ mlock: 'best-effort' });`), {
      memlockBytes: 8 << 20,
      ...(isRoot ? { user: 'nobody' } : {}),
    });
    expect(out.uid).not.toBe(0);
    expectTypedLimitAndAWorkingProcess(out);
  });
});
