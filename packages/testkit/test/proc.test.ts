import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  countMappings,
  lockableMemory,
  openFileDescriptors,
  readMappings,
  runNode,
  startChild,
  type ChildHandle,
} from '../src/index.js';
import { removeTempDirs, tempDir } from './helpers.js';

const handles: ChildHandle[] = [];
afterEach(() => {
  for (const handle of handles.splice(0)) handle.kill();
  removeTempDirs();
});

describe('openFileDescriptors', () => {
  it('sees a descriptor opened in this process, and not after it is closed', () => {
    const fd = fs.openSync(path.join(tempDir(), 'f'), 'w');
    const open = openFileDescriptors();
    expect(open).toContain(fd);
    expect(open).toEqual([...open].sort((a, b) => a - b));
    fs.closeSync(fd);
    // readdir reuses the lowest free number, i.e. fd, for the listing itself: that must not count.
    expect(openFileDescriptors('self')).not.toContain(fd);
  });

  it("lists another process's descriptors", async () => {
    const file = path.join(tempDir(), 'child-file');
    const child = await startChild(`import fs from 'node:fs'; const fd = fs.openSync(process.env.FILE, 'w'); await checkpoint('opened', fd); fs.closeSync(fd); await checkpoint('closed');`, {
      env: { FILE: file },
    });
    handles.push(child);
    const fd = await child.waitFor('opened');
    expect(typeof fd).toBe('number');
    expect(openFileDescriptors(child.pid)).toContain(fd);
    child.resume();
    await child.waitFor('closed');
    expect(openFileDescriptors(child.pid)).not.toContain(fd);
    child.resume();
    expect((await child.exited).code).toBe(0);
  });

  it('rejects a bad pid', () => {
    expect(() => openFileDescriptors(-1)).toThrow(RangeError);
    expect(() => openFileDescriptors(2_147_483_647)).toThrow(/cannot list/);
  });
});

describe('countMappings', () => {
  it('counts the lines of /proc/PID/maps', async () => {
    expect(countMappings()).toBeGreaterThan(10);
    const child = await startChild(`await checkpoint('ready');`);
    handles.push(child);
    await child.waitFor('ready');
    process.kill(child.pid, 'SIGSTOP'); // a stopped process cannot change its mappings under us
    try {
      // SIGSTOP takes effect asynchronously: wait until every thread has stopped.
      const state = () => {
        const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      };
      for (let i = 0; i < 2500 && state() !== 'T'; i++) await new Promise((resolve) => setTimeout(resolve, 2));
      expect(state()).toBe('T');
      const lines = fs.readFileSync(`/proc/${child.pid}/maps`, 'utf8').split('\n').filter((line) => line !== '');
      expect(countMappings(child.pid)).toBe(lines.length);
      expect(readMappings(child.pid)).toHaveLength(lines.length);
    } finally {
      process.kill(child.pid, 'SIGCONT');
    }
  });

  it('throws for a process that does not exist', () => {
    expect(() => countMappings(2_147_483_647)).toThrow(/does not exist/);
  });
});

describe('lockableMemory', () => {
  it('is Infinity with CAP_IPC_LOCK, else the soft RLIMIT_MEMLOCK (a child under prlimit shows it)', async () => {
    expect(lockableMemory()).toBeGreaterThan(0);
    const result = await runNode(
      `import { lockableMemory } from '@strongroom/testkit'; console.log(lockableMemory());`,
      { memlockBytes: 1 << 20, dropIpcLock: true, cwd: path.resolve(import.meta.dirname, '..') },
    );
    expect(result.stdout.trim()).toBe(String(1 << 20));
  });
});
