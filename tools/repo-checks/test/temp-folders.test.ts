// The global setup that gives each vitest run its own temp directory and fails the run
// when a test leaves a strongroom-* folder in it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterEach, expect, it, vi } from 'vitest';

import setup from '../temp-folders.js';

afterEach(() => {
  vi.restoreAllMocks();
});

function run(leave: (dir: string) => void): { exitCode: typeof process.exitCode; stderr: string; dir: string; tmpdirAfter: string } {
  const saved = process.exitCode;
  const writes: string[] = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    writes.push(String(chunk));
    return true;
  });
  const teardown = setup();
  const dir = os.tmpdir();
  leave(dir);
  teardown();
  const result = { exitCode: process.exitCode, stderr: writes.join(''), dir, tmpdirAfter: os.tmpdir() };
  process.exitCode = saved;
  return result;
}

it('a run gets its own temp directory, removed at the end, and TMPDIR is restored', () => {
  const before = os.tmpdir();
  const result = run((dir) => fs.writeFileSync(path.join(dir, 'not-ours.txt'), 'x'));
  expect(path.basename(result.dir)).toMatch(/^vitest-run-/);
  expect(fs.existsSync(result.dir)).toBe(false);
  expect(result.tmpdirAfter).toBe(before);
  expect(result.stderr).toBe('');
});

it('a strongroom-* folder left behind fails the run by name (positive control)', () => {
  const result = run((dir) => fs.mkdirSync(path.join(dir, 'strongroom-left-behind')));
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain('strongroom-left-behind');
  expect(fs.existsSync(result.dir)).toBe(false);
});
