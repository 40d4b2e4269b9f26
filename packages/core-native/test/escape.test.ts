// Views that leave their scope (ARCHITECTURE.md invariant 8): transfer(), a byte stream's
// enqueue() and a BYOB read move a view's memory into an ArrayBuffer strongroom never
// handed out. Such an ArrayBuffer must never show this secret after the scope, never show
// or change another secret, and never fault; the call that ends the scope says so with
// ERR_VIEW_ESCAPED. Each path runs in a child process, so that a fault is a failed
// assertion on the child's exit instead of a dead test runner.
import { faultsEnv, faultsPreamble, runNode } from '@strongroom/testkit';
import { describe, expect, it } from 'vitest';

import { BACKENDS, CHILD, SECRETMEM, SECRETMEM_SKIP_REASON } from './helpers.js';

const HAS_TRANSFER = typeof (ArrayBuffer.prototype as { transfer?: unknown }).transfer === 'function';

/** Runs a child that prints one JSON line; asserts a clean exit and returns the parsed line. */
async function childReport(body: string, options: Parameters<typeof runNode>[1] = CHILD): Promise<Record<string, unknown>> {
  const result = await runNode(
    `import * as sr from '@strongroom/core-native';
     const codeOf = (fn) => { try { fn(); return 'none'; } catch (e) { return e.code ?? String(e); } };
     const head = (bytes) => Array.from(bytes.subarray(0, 4));
     // Moves a view out through a byte stream's enqueue(); returns the chunk it became.
     const moveOut = async (view) => {
       let ctrl;
       const stream = new ReadableStream({ type: 'bytes', start(c) { ctrl = c; } });
       ctrl.enqueue(view);
       return (await stream.getReader().read()).value;
     };
     ${body}`,
    { ...CHILD, ...options },
  );
  expect(result.signal, result.stderr).toBeNull();
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout.trim().split('\n').at(-1) as string) as Record<string, unknown>;
}

// Every way out, as child code that moves `view` (a view of `r`) and leaves the moved
// bytes in `moved` (a Uint8Array the region no longer controls).
const WAYS_OUT = [
  {
    name: "a byte stream's enqueue()",
    available: true,
    code: `const moved = await moveOut(view);`,
  },
  {
    name: 'a BYOB read',
    available: true,
    code: `const source = new ReadableStream({ type: 'bytes', pull(c) { c.enqueue(new Uint8Array(32).fill(0x42)); c.close(); } });
      const moved = (await source.getReader({ mode: 'byob' }).read(view)).value;`,
  },
  {
    name: 'ArrayBuffer.prototype.transfer()',
    available: HAS_TRANSFER,
    code: `const moved = new Uint8Array(view.buffer.transfer());`,
  },
] as const;

describe.each(BACKENDS)('a view moved out of its scope ($backend)', ({ backend, available }) => {
  describe.each(WAYS_OUT)('by $name', (way) => {
    const skip = !available ? SECRETMEM_SKIP_REASON : !way.available ? 'ArrayBuffer.prototype.transfer() needs Node 22+' : '';

    it.skipIf(skip !== '')(
      'the end of the scope throws ERR_VIEW_ESCAPED; the moved bytes are zeros; the secret stays; the next secret is untouched',
      async () => {
        const report = await childReport(`
          const r = sr.allocate(32, { backend: '${backend}' });
          r.view().fill(0x42);
          const view = r.view();
          ${way.code}
          const during = moved[0];
          const code = codeOf(() => r.protect('noaccess'));
          const after = head(moved);
          const orphaned = sr.stats().orphanedRegions;
          r.protect('readonly');
          const kept = head(r.view());
          r.free();
          const next = sr.allocate(32, { backend: '${backend}' }); // the size a spare of r would have
          sr.randomFill(next);
          next.protect('readonly');
          const nextBytes = Array.from(next.view());
          const seen = Array.from(moved);
          moved.fill(7);
          const nextAfterWrite = Array.from(next.view());
          console.log(JSON.stringify({ during, code, after, orphaned, kept, seen, nextBytes, nextAfterWrite }));`);
        expect(report.code).toBe('ERR_VIEW_ESCAPED');
        expect(report.during).toBe(0x42); // inside the scope the moved view saw the secret
        expect(report.after).toEqual([0, 0, 0, 0]); // never after it
        expect(report.kept).toEqual([0x42, 0x42, 0x42, 0x42]); // nothing lost
        expect(report.orphaned).toBe(1);
        expect(report.seen).toEqual(new Array(32).fill(0)); // not the next secret
        expect(report.nextAfterWrite).toEqual(report.nextBytes); // a write through it changes no secret
      },
    );
  });

  it.skipIf(!available)('free() with a moved view orphans the pages; they go when the moved ArrayBuffer is collected', async () => {
    const report = await childReport(
      `let r = sr.allocate(32, { backend: '${backend}' });
       r.view().fill(0x42);
       let moved = await moveOut(r.view());
       const code = codeOf(() => r.free());
       const after = head(moved);
       const orphaned = sr.stats().orphanedRegions;
       const regions = sr.stats().regions;
       moved = undefined; // the orphan goes once nothing shares it: the moved ArrayBuffer and the Region object
       r = undefined;
       for (let i = 0; i < 20 && sr.stats().orphanedRegions > 0; i++) {
         globalThis.gc();
         await new Promise((resolve) => setTimeout(resolve, 20));
       }
       console.log(JSON.stringify({ code, after, orphaned, regions, later: sr.stats().orphanedRegions }));`,
      { ...CHILD, args: ['--expose-gc'] },
    );
    expect(report).toEqual({ code: 'none', after: [0, 0, 0, 0], orphaned: 1, regions: 0, later: 0 });
  });

  it.skipIf(!available)('a positive control: without a move, the end of the scope throws nothing and orphans nothing', async () => {
    const report = await childReport(`
      const r = sr.allocate(32, { backend: '${backend}' });
      const view = r.view();
      view.fill(1);
      const code = codeOf(() => r.protect('noaccess'));
      console.log(JSON.stringify({ code, orphaned: sr.stats().orphanedRegions, length: view.length }));`);
    expect(report).toEqual({ code: 'none', orphaned: 0, length: 0 });
  });
});

describe('a view moved out of its scope when no fresh pages can be had', () => {
  it('the secret is wiped and the region freed, and the error says so', async () => {
    // RLIMIT_MEMLOCK of one page: the region holds it, so its secret has nowhere to move.
    const report = await childReport(
      `const r = sr.allocate(32, { backend: 'mmap' });
       r.view().fill(0x42);
       const moved = await moveOut(r.view());
       let message = '';
       const code = codeOf(() => { try { r.protect('noaccess'); } catch (e) { message = e.message; throw e; } });
       console.log(JSON.stringify({ code, wiped: /wiped and the region freed/.test(message), freed: r.freed, after: head(moved) }));`,
      { ...CHILD, memlockBytes: 4096, dropIpcLock: true },
    );
    expect(report).toEqual({ code: 'ERR_VIEW_ESCAPED', wiped: true, freed: true, after: [0, 0, 0, 0] });
  });
});

describe('a view moved out of its scope when a C++ allocation fails (std::bad_alloc) as its move begins', () => {
  it('the escape is not forgotten: the old pages are orphaned, never handed to the next secret', async () => {
    // Before: the failed move left the region as if no view had left; free() put its pages
    // among the spares, the next allocation of that shape took them, and the moved view
    // showed the new secret (then faulted once that one was closed).
    const report = await childReport(
      `${faultsPreamble()}
       const r = sr.allocate(32, { backend: 'mmap', isolated: true });
       r.view().fill(0x41);
       const moved = await moveOut(r.view());
       faults.watch();
       faults.fail('new', 1, errno.ENOMEM); // the fresh pages' bookkeeping
       const code = codeOf(() => r.protect('noaccess'));
       faults.stop();
       codeOf(() => r.free());
       const next = sr.allocate(32, { backend: 'mmap', isolated: true });
       next.view().fill(0x42);
       const sees = head(moved);
       next.protect('noaccess');
       console.log(JSON.stringify({ code, sees, after: head(moved), orphaned: sr.stats().orphanedRegions }));`,
      { ...CHILD, env: faultsEnv() },
    );
    expect(report).toEqual({ code: 'ERR_VIEW_ESCAPED', sees: [0, 0, 0, 0], after: [0, 0, 0, 0], orphaned: 1 });
  });
});

describe("backend 'auto' after a passing failure of the secretmem probe", () => {
  it.skipIf(!SECRETMEM)("puts later secrets on secretmem again: the first answer was not final", async () => {
    const report = await childReport(
      `${faultsPreamble()}
       faults.watch();
       faults.fail('memfd_secret', 1, errno.EMFILE); // a full descriptor table at the first probe
       const first = sr.allocate(64);
       faults.stop();
       const later = sr.allocate(64);
       console.log(JSON.stringify({ first: first.backend, later: later.backend }));`,
      { ...CHILD, env: faultsEnv() },
    );
    expect(report).toEqual({ first: 'mmap', later: 'secretmem' });
  });

  it.skipIf(!SECRETMEM)('a memfd_secret mapping that fails while its message cannot be built leaves no descriptor open', async () => {
    const report = await childReport(
      `${faultsPreamble()}
       import fs from 'node:fs';
       const secretFds = () => fs.readdirSync('/proc/self/fd').filter((f) => { try { return fs.readlinkSync('/proc/self/fd/' + f).includes('secretmem'); } catch { return false; } }).length;
       sr.allocate(32, { backend: 'secretmem', isolated: true }).free();
       sr.releaseSpareRegions();
       const before = secretFds();
       faults.watch();
       faults.fail('mmap', 2, errno.ENOMEM); // the memfd_secret pages over the reserved span
       faults.fail('new', 1, errno.ENOMEM);  // and the first allocation after it: the message
       const code = codeOf(() => sr.allocate(5000, { backend: 'secretmem', isolated: true }));
       faults.stop();
       console.log(JSON.stringify({ code, leaked: secretFds() - before }));`,
      { ...CHILD, env: faultsEnv() },
    );
    expect(report).toEqual({ code: 'ERR_NO_MEMORY', leaked: 0 });
  });
});

describe("a view of a 'heap' region moved out of its scope", () => {
  it.skipIf(!HAS_TRANSFER)('ERR_VIEW_ESCAPED, no TypeError; the region holds zeros and stays usable', async () => {
    const report = await childReport(`
      const r = sr.allocate(8, { backend: 'heap' });
      r.view().fill(5);
      const moved = new Uint8Array(r.view().buffer.transfer());
      const code = codeOf(() => r.protect('noaccess'));
      r.protect('readwrite');
      const now = head(r.view());
      r.view().fill(6);
      r.free();
      console.log(JSON.stringify({ code, now, moved: head(moved), freed: r.freed }));`);
    // A 'heap' region has no guarded pages to move the bytes to: they went with the moved view.
    expect(report).toEqual({ code: 'ERR_VIEW_ESCAPED', now: [0, 0, 0, 0], moved: [5, 5, 5, 5], freed: true });
  });
});
