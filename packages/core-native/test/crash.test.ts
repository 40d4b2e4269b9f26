// Memory-safety violations end the process: overflow and underflow from native code
// fault on the guard pages, a short underflow is caught by the canary on free, and JS
// access through a view faults whenever the page protection forbids it. The layout tests
// use isolated regions (pages of their own); slab.test.ts has the same for slab slots.
import { describe, expect, it } from 'vitest';
import { expectCrash, strongroomMatchers } from '@strongroom/testkit';
import '@strongroom/testkit/vitest';

import { BACKENDS, CHILD, PREAMBLE, SECRETMEM_SKIP_REASON } from './helpers.js';

const PAGE = 4096;
// Distance from the first data page to the data: the region ends flush against the guard.
const slack = (size: number) => Math.ceil((size + 16) / PAGE) * PAGE - size;

expect.extend(strongroomMatchers);

/** A child's code: the body, then a line that a crash must never let it reach. */
function snippet(body: string): string {
  return `${PREAMBLE}\n${body}\nconsole.log('survived');`;
}

/**
 * Runs the body in a child, expects the signal at the step the body ends with (never later,
 * at exit, when the addon's finalizers free every region), and gives its output.
 */
async function crash(body: string, signal: 'SIGSEGV' | 'SIGABRT') {
  const result = await expectCrash(snippet(body), { ...CHILD, signal });
  expect(result.stdout).not.toContain('survived');
  return result;
}

describe.each(BACKENDS)('$backend backend', ({ backend, available }) => {
  const test = available ? it : it.skip;
  if (!available) it.skip(`skipped: ${SECRETMEM_SKIP_REASON}`, () => {});

  for (const size of [1, 32, 4096, 5000]) {
    test(`a one-byte native write past the end of a ${size}-byte region faults`, async () => {
      await crash(
        `const r = sr.allocate(${size}, { backend: '${backend}', isolated: true });
         const at = poke.addressOf(r.view());
         poke.writeAt(at, ${size - 1}, 1); // the last byte is fine
         process.stderr.write('last byte written\\n');
         poke.writeAt(at, ${size}, 1);`,
        'SIGSEGV',
      ).then((result) => expect(result.stderr).toContain('last byte written'));
    });

    test(`a one-byte native read past the end of a ${size}-byte region faults`, async () => {
      await expect(
        snippet(`const r = sr.allocate(${size}, { backend: '${backend}', isolated: true });
                 poke.readAt(poke.addressOf(r.view()), ${size});`),
      ).toCrashWith('SIGSEGV', CHILD);
    });

    test(`a native underflow past the canary of a ${size}-byte region faults on the leading guard`, async () => {
      await crash(
        `const r = sr.allocate(${size}, { backend: '${backend}', isolated: true });
         const at = poke.addressOf(r.view());
         poke.readAt(at, -${slack(size)}); // first byte of the data pages is mapped
         process.stderr.write('first data page readable\\n');
         poke.readAt(at, -${slack(size) + 1});`,
        'SIGSEGV',
      ).then((result) => expect(result.stderr).toContain('first data page readable'));
    });

    test(`a one-byte native underflow into the canary of a ${size}-byte region aborts on free`, async () => {
      const result = await crash(
        `const r = sr.allocate(${size}, { backend: '${backend}', isolated: true });
         const at = poke.addressOf(r.view());
         poke.writeAt(at, -1, poke.readAt(at, -1) ^ 0xff);
         process.stderr.write('underflow written\\n');
         r.free();`,
        'SIGABRT',
      );
      expect(result.stderr).toContain('underflow written');
      expect(result.stderr).toMatch(/^strongroom: canary before a region was overwritten.*aborting$/m);
    });
  }

  test('a stray write into the slack below the canary (skipping it) aborts on free', async () => {
    const result = await crash(
      `const r = sr.allocate(32, { backend: '${backend}', isolated: true });
       const at = poke.addressOf(r.view());
       poke.writeAt(at, -100, 0x41); // 100 bytes below the data: past the 16-byte canary
       process.stderr.write('stray write done\\n');
       r.free();`,
      'SIGABRT',
    );
    expect(result.stderr).toContain('stray write done');
    expect(result.stderr).toMatch(/^strongroom: the slack below a region's canary was written.*aborting$/m);
  });

  test('an intact canary frees without complaint (control)', async () => {
    const { runNode } = await import('@strongroom/testkit');
    const result = await runNode(
      `${PREAMBLE}
       const r = sr.allocate(32, { backend: '${backend}' });
       const at = poke.addressOf(r.view());
       poke.writeAt(at, 0, 1); poke.writeAt(at, 31, 1);
       r.free(); console.log('freed');`,
      CHILD,
    );
    expect(result).toMatchObject({ code: 0, signal: null });
    expect(result.stdout).toContain('freed');
  });

  test('a JS write through a view while readonly kills the process', async () => {
    const result = await crash(
      `const r = sr.allocate(16, { backend: '${backend}' });
       const view = r.view();
       r.protect('readonly');
       process.stderr.write('read ' + view[3] + '\\n'); // reading is allowed
       view[3] = 1;`,
      'SIGSEGV',
    );
    expect(result.stderr).toContain('read 0');
  });

  // protect('noaccess') detaches every view strongroom made, so JS cannot even try.
  // A view it could not detach (made by other native code at the same address) shows
  // that the pages themselves refuse access.
  test('a JS read through a leaked view while noaccess kills the process', async () => {
    await crash(
      `const r = sr.allocate(16, { backend: '${backend}' });
       const at = poke.addressOf(r.view());
       r.protect('noaccess');
       const leaked = poke.leakedView(at, 16);
       process.stderr.write('leaked view made\\n');
       console.log(leaked[0]);`,
      'SIGSEGV',
    ).then((result) => expect(result.stderr).toContain('leaked view made'));
  });

  test('a JS write through a leaked view while noaccess kills the process', async () => {
    await expect(
      snippet(`const r = sr.allocate(16, { backend: '${backend}' });
               const at = poke.addressOf(r.view());
               r.protect('noaccess');
               poke.leakedView(at, 16)[0] = 1;`),
    ).toCrashWith('SIGSEGV', CHILD);
  });

  test('a native read of a noaccess region faults', async () => {
    await expect(
      snippet(`const r = sr.allocate(16, { backend: '${backend}' });
               const at = poke.addressOf(r.view());
               r.protect('noaccess');
               poke.readAt(at, 0);`),
    ).toCrashWith('SIGSEGV', CHILD);
  });
});
