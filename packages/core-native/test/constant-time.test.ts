// equals() never stores a byte of either operand to memory (the stack is ordinary memory,
// readable by root through /proc/PID/mem, which a secretmem region exists to prevent), and
// turns no operand byte into a branch: checked on the compiled addon with objdump.
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { PACKAGE_DIR } from './helpers.js';

const ADDON = path.join(PACKAGE_DIR, 'build', 'Release', 'strongroom.node');
const objdump = spawnSync('objdump', ['-d', '--no-show-raw-insn', ADDON], { encoding: 'utf8', maxBuffer: 64 << 20 });

/** The instructions of each function whose symbol matches, by name. */
function functions(pattern: RegExp): Map<string, string[]> {
  const found = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of objdump.stdout.split('\n')) {
    const header = /^[0-9a-f]+ <([^>]+)>:$/.exec(line);
    if (header) {
      current = pattern.test(header[1] as string) ? [] : undefined;
      if (current) found.set(header[1] as string, current);
    } else if (current && /^\s+[0-9a-f]+:\s+\S/.test(line)) {
      current.push(line.replace(/^\s+[0-9a-f]+:\s+/, '').trim());
    }
  }
  return found;
}

// An instruction whose last operand (the destination, in AT&T syntax) is memory; a push of
// a register at entry saves the caller's register, not an operand byte.
const STORE = /^(?!push|call|j)\S+\s+.*,\s*(-?0x[0-9a-f]+)?\(%[a-z0-9]+(,%[a-z0-9]+,\d)?\)$/;
// Instructions that make a branch out of vector data.
const DATA_TO_FLAGS = /^v?(ptest|pmovmskb|movmskp[sd])\b/;

describe.skipIf(process.arch !== 'x64' || objdump.status !== 0)('constant-time equality in the compiled addon (x86-64, objdump)', () => {
  // The loops (and, should they come back, target_clones copies of a DiffBits loop).
  const diff = functions(/Diff(Avx2|Sse2|Words)E|DiffBits.*\.(avx2|default)$/);

  it('the comparison loops are there to check: SSE2 and AVX2 (the portable one is for other architectures)', () => {
    expect([...diff.keys()].map((name) => /Diff(\w+?)E/.exec(name)?.[1]).sort()).toEqual(['Avx2', 'Sse2']);
  });

  it('store no byte to memory, call nothing, and make no vector data into flags', () => {
    const problems: string[] = [];
    for (const [name, instructions] of diff) {
      for (const instruction of instructions) {
        if (STORE.test(instruction)) problems.push(`${name}: stores: ${instruction}`);
        if (/^call/.test(instruction)) problems.push(`${name}: calls: ${instruction}`);
        if (DATA_TO_FLAGS.test(instruction)) problems.push(`${name}: branches on data: ${instruction}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the store check finds a store (positive control: the old loop copied both operands to the stack)', () => {
    expect(STORE.test('movdqa %xmm0,-0x40(%rbp)')).toBe(true);
    expect(STORE.test('mov %rax,(%rsp)')).toBe(true);
    expect(STORE.test('vmovdqu %ymm1,0x20(%rsp,%rax,1)')).toBe(true);
    expect(STORE.test('movdqu -0x10(%r8,%rax,1),%xmm0')).toBe(false);
    expect(STORE.test('push %rbx')).toBe(false);
  });
});
