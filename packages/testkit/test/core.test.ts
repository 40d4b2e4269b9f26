import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { coreDumpSupport, fileContains, findCoreFiles, makeMarker } from '../src/index.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterEach(() => {
  vi.restoreAllMocks();
  removeTempDirs();
});

function fakeProc(pattern: string, hardCoreLimit = 'unlimited'): void {
  const real = fs.readFileSync;
  vi.spyOn(fs, 'readFileSync').mockImplementation(((file: fs.PathOrFileDescriptor, options?: unknown) => {
    if (file === '/proc/sys/kernel/core_pattern') return `${pattern}\n`;
    if (file === '/proc/self/limits') return `Limit  Soft Limit  Hard Limit  Units\nMax core file size        0                    ${hardCoreLimit}            bytes\n`;
    return real(file, options as BufferEncoding);
  }) as typeof fs.readFileSync);
}

describe('coreDumpSupport', () => {
  it('describes this machine', () => {
    const support = coreDumpSupport();
    expect(typeof support.supported).toBe('boolean');
    expect(support.reason.length).toBeGreaterThan(10);
    const pattern = fs.readFileSync('/proc/sys/kernel/core_pattern', 'utf8').trim();
    if (pattern.startsWith('|')) expect(support.supported).toBe(false);
  });

  it("is supported for 'core' and 'core.%p' with a hard limit above 0", () => {
    fakeProc('core');
    expect(coreDumpSupport()).toEqual({ supported: true, reason: expect.stringContaining("'core'") });
    vi.restoreAllMocks();
    fakeProc('core.%p', '1048576');
    expect(coreDumpSupport().supported).toBe(true);
  });

  it('is not supported for a pipe, an empty pattern, a path elsewhere, or a hard limit of 0', () => {
    const cases: [string, string, RegExp][] = [
      ['|/usr/lib/systemd/systemd-coredump %P %u %g %s %t', 'unlimited', /pipes cores to a program/],
      ['', 'unlimited', /empty/],
      ['/var/crash/core.%e.%p', 'unlimited', /only finds 'core' or 'core.<pid>'/],
      ['core', '0', /hard RLIMIT_CORE .* is 0/],
    ];
    for (const [pattern, hard, reason] of cases) {
      vi.restoreAllMocks();
      fakeProc(pattern, hard);
      const support = coreDumpSupport();
      expect(support.supported).toBe(false);
      expect(support.reason).toMatch(reason);
    }
  });
});

describe('findCoreFiles', () => {
  it("lists files named 'core' and 'core.<digits>' only", () => {
    const dir = tempDir();
    for (const name of ['core', 'core.123', 'core.abc', 'core.12x', 'corefile', 'a.core', 'xcore']) fs.writeFileSync(path.join(dir, name), '');
    fs.mkdirSync(path.join(dir, 'core.5'));
    expect(findCoreFiles(dir)).toEqual([path.join(dir, 'core'), path.join(dir, 'core.123')]);
    expect(findCoreFiles(tempDir())).toEqual([]);
  });
});

describe('fileContains', () => {
  it('finds a marker in a small file and not one that is absent', async () => {
    const file = path.join(tempDir(), 'small');
    const marker = makeMarker();
    fs.writeFileSync(file, Buffer.concat([Buffer.from('prefix'), marker, Buffer.from('suffix')]));
    expect(await fileContains(file, marker)).toBe(true);
    expect(await fileContains(file, makeMarker())).toBe(false);
    expect(await fileContains(file, marker.subarray(0, 31))).toBe(true);
  });

  it('finds a marker across a 4 MiB chunk border and at the very end of a sparse file', async () => {
    const dir = tempDir();
    const marker = makeMarker(64);
    const chunk = 4 << 20;
    for (const at of [chunk - 1, chunk - 32, chunk - 63, 3 * chunk - 10, 40 * chunk - 64]) {
      const file = path.join(dir, `sparse-${at}`);
      const fd = fs.openSync(file, 'w');
      fs.ftruncateSync(fd, 40 * chunk);
      fs.writeSync(fd, marker, 0, marker.length, at);
      fs.closeSync(fd);
      expect(await fileContains(file, marker)).toBe(true);
      fs.rmSync(file);
    }
    const empty = path.join(dir, 'sparse-empty');
    fs.closeSync(fs.openSync(empty, 'w'));
    fs.truncateSync(empty, 40 * chunk);
    expect(await fileContains(empty, marker)).toBe(false);
    expect(await fileContains(empty, new Uint8Array(64))).toBe(true);
  });

  it('rejects for a missing file', async () => {
    await expect(fileContains(path.join(tempDir(), 'missing'), makeMarker())).rejects.toThrow(/ENOENT/);
  });
});
