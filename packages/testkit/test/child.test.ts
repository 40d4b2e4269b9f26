import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { coreDumpSupport, fileContains, findCoreFiles, makeMarker, maskMarker, runNode, startChild, type ChildHandle } from '../src/index.js';
import { hasIpcLock, isRoot, removeTempDirs, tempDir } from './helpers.js';

const handles: ChildHandle[] = [];
afterEach(() => {
  for (const handle of handles.splice(0)) handle.kill();
  removeTempDirs();
});

async function start(code: string, options: Parameters<typeof startChild>[1] = {}): Promise<ChildHandle> {
  const handle = await startChild(code, { timeoutMs: 20_000, ...options });
  handles.push(handle);
  return handle;
}

const printLimits = `import fs from 'node:fs';
  console.log(fs.readFileSync('/proc/self/limits', 'utf8'));`;

describe('runNode', () => {
  it('runs the snippet as an ES module and captures exit code, stdout and stderr', async () => {
    const result = await runNode(
      `await Promise.resolve();
       console.log(import.meta.url.startsWith('file:'), typeof require);
       console.error('to stderr: ü');
       process.exitCode = 3;`,
    );
    expect(result).toEqual({ code: 3, signal: null, stdout: 'true undefined\n', stderr: 'to stderr: ü\n' });
  });

  it('reports the signal that killed node, not a wrapper shell', async () => {
    const result = await runNode(`process.kill(process.pid, 'SIGTERM');`, { memlockBytes: 1 << 20, dropIpcLock: true });
    expect(result.code).toBeNull();
    expect(result.signal).toBe('SIGTERM');
  });

  it('merges env over process.env and removes variables set to undefined', async () => {
    process.env['TESTKIT_KEEP'] = 'kept';
    process.env['TESTKIT_DROP'] = 'dropped';
    try {
      const code = `console.log(JSON.stringify([process.env.TESTKIT_KEEP, process.env.TESTKIT_DROP ?? null, process.env.TESTKIT_ADD]));`;
      const control = await runNode(code);
      expect(JSON.parse(control.stdout)).toEqual(['kept', 'dropped', null]);
      const result = await runNode(code, { env: { TESTKIT_DROP: undefined, TESTKIT_ADD: 'added' } });
      expect(JSON.parse(result.stdout)).toEqual(['kept', null, 'added']);
    } finally {
      delete process.env['TESTKIT_KEEP'];
      delete process.env['TESTKIT_DROP'];
    }
  });

  it('passes node flags from args', async () => {
    expect((await runNode(`console.log(typeof gc);`)).stdout).toBe('undefined\n');
    expect((await runNode(`console.log(typeof gc);`, { args: ['--expose-gc'] })).stdout).toBe('function\n');
  });

  it('runs in cwd and resolves bare imports from there', async () => {
    const cwd = tempDir();
    const pkg = path.join(cwd, 'node_modules', 'testkit-fixture');
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'testkit-fixture', type: 'module', exports: './index.js' }));
    fs.writeFileSync(path.join(pkg, 'index.js'), `export const answer = 42;\n`);
    const result = await runNode(`import { answer } from 'testkit-fixture'; console.log(process.cwd(), answer);`, { cwd });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${fs.realpathSync(cwd)} 42\n`);
    const elsewhere = await runNode(`import 'testkit-fixture';`);
    expect(elsewhere.code).toBe(1);
    expect(elsewhere.stderr).toMatch(/ERR_MODULE_NOT_FOUND/);
  });

  it('kills the child with SIGKILL on timeout and rejects with a clear error', async () => {
    const cwd = tempDir();
    const started = Date.now();
    await expect(
      runNode(`import fs from 'node:fs'; fs.writeFileSync('pid', String(process.pid)); console.error('still running'); setInterval(() => {}, 1000);`, {
        cwd,
        timeoutMs: 1500,
      }),
    ).rejects.toThrow(/runNode: the child did not finish within 1500 ms and was killed with SIGKILL\nchild stderr:\nstill running/);
    expect(Date.now() - started).toBeLessThan(10_000);
    const pid = Number(fs.readFileSync(path.join(cwd, 'pid'), 'utf8'));
    expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });

  it("coreLimit 'off' (the default) sets RLIMIT_CORE soft and hard to 0 and leaves no core file", async () => {
    const limits = await runNode(printLimits);
    expect(limits.stdout).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
    const cwd = tempDir();
    const crashed = await runNode('process.abort();', { cwd, coreLimit: 'off' });
    expect(crashed.signal).toBe('SIGABRT');
    expect(fs.readdirSync(cwd)).toEqual([]);
  });

  const support = coreDumpSupport();
  it.skipIf(!support.supported)(`coreLimit 'unlimited' leaves a core file holding the child's heap (${support.reason})`, async () => {
    const cwd = tempDir();
    const marker = makeMarker();
    const { masked, mask } = maskMarker(marker);
    const result = await runNode(
      `const a = Buffer.from(process.env.M, 'hex'), b = Buffer.from(process.env.K, 'hex');
       globalThis.kept = a.map((byte, i) => byte ^ b[i]);
       process.abort();`,
      { cwd, coreLimit: 'unlimited', env: { M: masked, K: mask } },
    );
    expect(result.signal).toBe('SIGABRT');
    const cores = findCoreFiles(cwd);
    try {
      expect(cores).toHaveLength(1);
      expect(await fileContains(cores[0] ?? '', marker)).toBe(true);
      expect(await fileContains(cores[0] ?? '', makeMarker())).toBe(false);
    } finally {
      for (const core of cores) fs.rmSync(core, { force: true });
    }
  });

  it('memlockBytes sets RLIMIT_MEMLOCK soft and hard, to the byte', async () => {
    for (const bytes of [1 << 20, 70_000]) {
      const result = await runNode(printLimits, { memlockBytes: bytes });
      expect(result.stdout).toMatch(new RegExp(`^Max locked memory\\s+${bytes}\\s+${bytes}\\s+bytes`, 'm'));
    }
  });

  const ipcLockSkip = !isRoot
    ? 'not root: dropIpcLock is a no-op for other users'
    : !hasIpcLock()
      ? 'this root process has no CAP_IPC_LOCK to drop'
      : '';
  it.skipIf(ipcLockSkip !== '')(`dropIpcLock removes CAP_IPC_LOCK from a root child${ipcLockSkip === '' ? '' : ` (${ipcLockSkip})`}`, async () => {
    const code = `import fs from 'node:fs'; process.stdout.write(fs.readFileSync('/proc/self/status', 'utf8'));`;
    const control = await runNode(code);
    expect(hasIpcLock(control.stdout)).toBe(true);
    const dropped = await runNode(code, { dropIpcLock: true });
    expect(dropped.code).toBe(0);
    expect(hasIpcLock(dropped.stdout)).toBe(false);
    expect(/^CapEff:\s*(\S+)$/m.exec(dropped.stdout)?.[1]).not.toMatch(/^0+$/);
  });

  it.skipIf(!isRoot)(`user runs the child as that user, without capabilities, under the limits set before the switch${isRoot ? '' : ' (not root)'}`, async () => {
    const code = `import fs from 'node:fs';
      const status = fs.readFileSync('/proc/self/status', 'utf8');
      console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), groups: process.getgroups(),
        capEff: /^CapEff:\\s*(\\S+)$/m.exec(status)[1], memlock: /^Max locked memory\\s+(\\S+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))[1] }));`;
    const nobody = (fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((line) => line.startsWith('nobody:')) ?? '').split(':');
    const result = await runNode(code, { user: 'nobody', memlockBytes: 3 << 20 });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      uid: Number(nobody[2]),
      gid: Number(nobody[3]),
      groups: [Number(nobody[3])],
      capEff: expect.stringMatching(/^0+$/),
      memlock: String(3 << 20),
    });
    // A control: without the option the child is root.
    expect(JSON.parse((await runNode(code)).stdout)).toMatchObject({ uid: 0 });
  });

  it('rejects bad options', async () => {
    await expect(runNode('', { timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(runNode('', { memlockBytes: -1 })).rejects.toThrow(/memlockBytes/);
    await expect(runNode('', { user: 'no such user' })).rejects.toThrow(/user must be a user name/);
    await expect(runNode('', { user: 'strongroom-no-such-user' })).rejects.toThrow(/no user 'strongroom-no-such-user'/);
  });

  it('rejects when the child cannot be spawned', async () => {
    const missing = path.join(tempDir(), 'missing');
    await expect(runNode('', { cwd: missing })).rejects.toThrow(/ENOENT/);
    await expect(startChild('', { cwd: missing })).rejects.toThrow(/ENOENT/);
  });
});

describe('startChild', () => {
  it('stops at checkpoints in order, hands over their data, and exits normally after the last', async () => {
    const child = await start(
      `console.log('start');
       await checkpoint('first', { n: 1, big: 2n });
       console.log('after first');
       await checkpoint('second', new Uint8Array([7, 8]));
       console.log('after second');
       await checkpoint('third');
       console.log('end');`,
    );
    expect(child.pid).toBeGreaterThan(0);
    expect(await child.waitFor('first')).toEqual({ n: 1, big: 2n });
    child.resume();
    expect(await child.waitFor('second')).toEqual(new Uint8Array([7, 8]));
    child.resume();
    expect(await child.waitFor('third')).toBeUndefined();
    child.resume();
    // If the IPC channel kept the child alive, it would be SIGKILLed at timeoutMs instead.
    expect(await child.exited).toEqual({ code: 0, signal: null, stdout: 'start\nafter first\nafter second\nend\n', stderr: '' });
  });

  it('keeps the child waiting until resume() is called', async () => {
    const child = await start(`await checkpoint('wait'); console.log('resumed');`);
    await child.waitFor('wait');
    const early = await Promise.race([child.exited, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 500))]);
    expect(early).toBe('still waiting');
    child.resume();
    expect((await child.exited).stdout).toBe('resumed\n');
  });

  it('buffers checkpoints that arrive before waitFor is called', async () => {
    const child = await start(`await checkpoint('early', 'data'); await checkpoint('later', 'more');`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await child.waitFor('early')).toBe('data');
    child.resume();
    expect(await child.waitFor('later')).toBe('more');
    child.resume();
    expect((await child.exited).code).toBe(0);
  });

  it('rejects waitFor when the child crashes before the checkpoint, with the signal and stderr', async () => {
    const cwd = tempDir();
    const child = await start(`console.error('about to abort'); process.abort(); await checkpoint('never');`, { cwd });
    await expect(child.waitFor('never')).rejects.toThrow(/the child was killed by SIGABRT before checkpoint 'never'\nchild stderr:\nabout to abort/);
    expect((await child.exited).signal).toBe('SIGABRT');
    expect(fs.readdirSync(cwd)).toEqual([]);
    await expect(child.waitFor('later')).rejects.toThrow(/was killed by SIGABRT before checkpoint 'later'/);
  });

  it('rejects waitFor when the child exits without reaching the checkpoint', async () => {
    const child = await start(`await checkpoint('one'); process.exit(4);`);
    await child.waitFor('one');
    const pending = child.waitFor('two');
    child.resume();
    await expect(pending).rejects.toThrow(/the child exited with code 4 before checkpoint 'two'/);
  });

  it('refuses resume() when the child is not at a checkpoint', async () => {
    const child = await start(`await checkpoint('one');`);
    expect(() => child.resume()).toThrow(/not waiting at a checkpoint/);
    await child.waitFor('one');
    child.resume();
    expect(() => child.resume()).toThrow(/not waiting at a checkpoint/);
    expect((await child.exited).code).toBe(0);
  });

  it('kill() ends a child that waits at a checkpoint', async () => {
    const child = await start(`await checkpoint('one'); await checkpoint('two');`);
    await child.waitFor('one');
    child.kill();
    expect((await child.exited).signal).toBe('SIGKILL');
    await expect(child.waitFor('two')).rejects.toThrow(/was killed by SIGKILL/);
    expect(() => child.kill()).not.toThrow();
  });

  it('applies the same limits as runNode', async () => {
    const child = await start(`import fs from 'node:fs'; await checkpoint('limits', fs.readFileSync('/proc/self/limits', 'utf8'));`, {
      memlockBytes: 65_536,
    });
    const limits = await child.waitFor('limits');
    expect(limits).toMatch(/^Max locked memory\s+65536\s+65536\s+bytes/m);
    expect(limits).toMatch(/^Max core file size\s+0\s+0\s+bytes/m);
    child.resume();
    expect((await child.exited).code).toBe(0);
  });
});

describe('input', () => {
  it('is written to the child\'s stdin, which then ends', async () => {
    const result = await runNode(
      `import fs from 'node:fs'; process.stdout.write(fs.readFileSync(0, 'utf8').toUpperCase());`,
      { input: 'piped in\n' },
    );
    expect(result).toMatchObject({ code: 0, stdout: 'PIPED IN\n' });
  });

  it('without it, stdin is empty', async () => {
    const result = await runNode(`import fs from 'node:fs'; console.log(fs.readFileSync(0).length);`);
    expect(result.stdout.trim()).toBe('0');
  });
});
