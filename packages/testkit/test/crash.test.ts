import fs from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { expectCrash } from '../src/index.js';
import { removeTempDirs, tempDir } from './helpers.js';

afterEach(removeTempDirs);

describe('expectCrash', () => {
  it('resolves for SIGSEGV and returns what the child wrote before the crash', async () => {
    const result = await expectCrash(
      `process.stdout.write('out before\\n'); process.stderr.write('err before\\n'); process.kill(process.pid, 'SIGSEGV');`,
      { signal: 'SIGSEGV' },
    );
    expect(result.signal).toBe('SIGSEGV');
    expect(result.stdout).toBe('out before\n');
    expect(result.stderr).toBe('err before\n');
  });

  it('resolves for process.abort() (SIGABRT)', async () => {
    const result = await expectCrash('process.abort();', { signal: 'SIGABRT' });
    expect(result.signal).toBe('SIGABRT');
  });

  it('accepts an array of signals', async () => {
    const result = await expectCrash(`process.kill(process.pid, 'SIGBUS');`, { signal: ['SIGSEGV', 'SIGBUS'] });
    expect(result.signal).toBe('SIGBUS');
  });

  it('rejects when the child exits 0', async () => {
    await expect(expectCrash(`console.log('fine');`, { signal: 'SIGSEGV' })).rejects.toThrow(
      /expected the child to die by SIGSEGV, but it exited with code 0/,
    );
  });

  it('rejects when the child exits 1, and shows its stderr', async () => {
    const failure = expectCrash(`console.error('the reason is here'); process.exit(1);`, { signal: ['SIGSEGV', 'SIGABRT'] });
    await expect(failure).rejects.toThrow(/die by one of SIGSEGV, SIGABRT, but it exited with code 1\nchild stderr:\nthe reason is here/);
  });

  it('rejects when the child dies by a different signal', async () => {
    await expect(expectCrash(`process.kill(process.pid, 'SIGTERM');`, { signal: 'SIGSEGV' })).rejects.toThrow(
      /die by SIGSEGV, but it was killed by SIGTERM/,
    );
    await expect(expectCrash('process.abort();', { signal: 'SIGSEGV' })).rejects.toThrow(/was killed by SIGABRT/);
  });

  it('cuts long stderr in the rejection message to about 2000 characters', async () => {
    const error: unknown = await expectCrash(`process.stderr.write('a'.repeat(5000) + 'THE-END'); process.exit(2);`, {
      signal: 'SIGABRT',
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toMatch(/exited with code 2/);
    expect(message).toMatch(/characters omitted/);
    expect(message).toMatch(/THE-END$/);
    expect(message.length).toBeLessThan(2300);
  });

  it('always runs with core dumps off, even when coreLimit says unlimited', async () => {
    const cwd = tempDir();
    const result = await expectCrash(
      `import fs from 'node:fs';
       process.stderr.write(fs.readFileSync('/proc/self/limits', 'utf8'));
       process.abort();`,
      { signal: 'SIGABRT', coreLimit: 'unlimited', cwd },
    );
    expect(result.stderr).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
    expect(fs.readdirSync(cwd)).toEqual([]);
  });

  it('refuses an empty or unknown signal list', async () => {
    await expect(expectCrash('', { signal: [] })).rejects.toThrow(RangeError);
    await expect(expectCrash('', { signal: 'SIGTERM' as 'SIGSEGV' })).rejects.toThrow(/signal must be one or more of/);
  });
});
