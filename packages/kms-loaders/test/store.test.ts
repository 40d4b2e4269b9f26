// loadSecrets() and SecretStore: concurrent loading, one error for a failed required
// secret, optional secrets, refresh (a rotation, the same bytes, a failure that keeps the
// last good version), retries with backoff and a deadline for remote sources, and
// close(). (The store behind @strongroom/express's strongroom() is tested in that package.)
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { asyncErrorCode, errorCode } from '@strongroom/testkit';

import { defineSource, Enclave, file, loadSecrets, sourceError, SecretBuffer, type Source } from '../src/index.js';
import { tempFolder, textOf } from './helpers.js';

const { dir, remove } = tempFolder('store');
afterAll(remove);

function write(name: string, content: string): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, content, { mode: 0o600 });
  return target;
}

/** A remote source that fails with `failures` in turn, then gives `value`; counts its calls. */
function flaky(failures: string[], value: string, delay = 0): { source: Source; calls: () => number } {
  let calls = 0;
  const source = defineSource({
    kind: 'test-remote',
    where: 'test://flaky',
    remote: true,
    load: async () => {
      const code = failures[calls++];
      if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      if (code !== undefined) throw sourceError(code as 'ERR_SOURCE_UNAVAILABLE', { kind: 'test-remote', where: 'test://flaky' }, 'the test says no');
      return Enclave.from(Buffer.from(value));
    },
  });
  return { source, calls: () => calls };
}

describe('loading', () => {
  it('loads every source concurrently into a store; version 1; use() destroys what it opened', async () => {
    const store = await loadSecrets({ a: file(write('a', 'alpha')), b: file(write('b', 'beta')) });
    expect([textOf(store.get('a')), textOf(store.get('b'))]).toEqual(['alpha', 'beta']);
    expect(store.version('a')).toBe(1);
    const live = SecretBuffer.live().buffers;
    expect(store.use('b', (secret) => secret.size)).toBe(4);
    expect(await store.use('a', async (secret) => secret.size)).toBe(5);
    expect(SecretBuffer.live().buffers).toBe(live);
    expect(String(store)).toBe('SecretStore(2 secrets)');
    expect(JSON.stringify(store)).not.toContain('alpha');
    expect(errorCode(() => store.get('c'))).toBe('ERR_SECRET_NOT_FOUND');
    store.close();
  });

  it('a failed required secret fails the load with one error naming it and its source', async () => {
    let message = '';
    try {
      await loadSecrets({ a: file(write('a2', 'alpha')), missing: file(path.join(dir, 'nope')), also: file(path.join(dir, 'nope2')) });
    } catch (error) {
      message = (error as Error).message;
      expect((error as { code: string }).code).toBe('ERR_SECRET_NOT_FOUND');
    }
    expect(message).toContain("'missing'");
    expect(message).toContain(path.join(dir, 'nope'));
    expect(message).toContain("1 more: 'also'");
    expect(message).not.toContain('alpha');
  });

  it('an optional secret that fails is left out and reported as an error event', async () => {
    const store = await loadSecrets({ a: file(write('a3', 'alpha')), extra: file(path.join(dir, 'absent')) }, { required: ['a'] });
    const [error, name] = (await once(store, 'error')) as [{ code: string }, string];
    expect([error.code, name]).toEqual(['ERR_SECRET_NOT_FOUND', 'extra']);
    expect(store.has('extra')).toBe(false);
    expect(store.has('a')).toBe(true);
    store.close();
  });

  it('bad arguments are ERR_INVALID_ARG', async () => {
    expect(await asyncErrorCode(() => loadSecrets({}))).toBe('ERR_INVALID_ARG');
    expect(await asyncErrorCode(() => loadSecrets({ a: '/run/secrets/a' } as never))).toBe('ERR_INVALID_ARG');
    expect(await asyncErrorCode(() => loadSecrets({ a: { kind: 'file', where: 'x', remote: false, load: async () => Enclave.random(1) } } as never))).toBe('ERR_INVALID_ARG');
    expect(await asyncErrorCode(() => loadSecrets({ a: file('/x') }, { refresh: 10 }))).toBe('ERR_INVALID_ARG');
    expect(await asyncErrorCode(() => loadSecrets({ a: file('/x') }, { required: ['b'] }))).toBe('ERR_INVALID_ARG');
    expect(await asyncErrorCode(() => loadSecrets({ a: file('/x') }, { refrsh: 1000 } as never))).toBe('ERR_INVALID_ARG');
  });
});

describe('refresh', () => {
  it('a changed file is a rotation; the same bytes change nothing; a failure keeps the last good version', async () => {
    const target = write('rotating', 'one');
    const store = await loadSecrets({ key: file(target) });
    const rotations: unknown[] = [];
    const errors: unknown[] = [];
    store.on('rotate', (...args) => rotations.push(args));
    store.on('error', (error, name) => errors.push([(error as { code: string }).code, name]));
    await store.refresh('key');
    expect(rotations).toEqual([]); // same bytes
    fs.writeFileSync(target, 'two');
    await store.refresh('key');
    expect(rotations).toEqual([['key', 2]]);
    expect(textOf(store.get('key'))).toBe('two');
    fs.rmSync(target);
    await store.refresh('key');
    expect(errors).toEqual([['ERR_SECRET_NOT_FOUND', 'key']]);
    expect(textOf(store.get('key'))).toBe('two'); // still served
    expect(store.version('key')).toBe(2);
    store.close();
  });

  it('the refresh interval reloads on its own', async () => {
    const target = write('interval', 'first');
    const store = await loadSecrets({ key: file(target) }, { refresh: 1000 });
    fs.writeFileSync(target, 'second');
    expect(await once(store, 'rotate')).toEqual(['key', 2]);
    store.close();
  });
});

describe('remote sources: retries within a deadline', () => {
  it('unavailable twice, then an answer: loaded', async () => {
    const { source, calls } = flaky(['ERR_SOURCE_UNAVAILABLE', 'ERR_SOURCE_UNAVAILABLE'], 'finally');
    const store = await loadSecrets({ s: source }, { retry: { minDelay: 5, maxDelay: 20 } });
    expect(textOf(store.get('s'))).toBe('finally');
    expect(calls()).toBe(3);
    store.close();
  });

  it('a refused credential is not retried', async () => {
    const { source, calls } = flaky(['ERR_SOURCE_AUTH'], 'never');
    expect(await asyncErrorCode(() => loadSecrets({ s: source }, { retry: { minDelay: 5 } }))).toBe('ERR_SOURCE_AUTH');
    expect(calls()).toBe(1);
  });

  it('the deadline ends retries and a load that hangs', async () => {
    const started = Date.now();
    const always = flaky(Array(1000).fill('ERR_SOURCE_UNAVAILABLE'), 'never').source;
    expect(await asyncErrorCode(() => loadSecrets({ s: always }, { retry: { retries: 100, minDelay: 20, deadline: 300 } }))).toBe('ERR_SOURCE_UNAVAILABLE');
    const hanging = flaky([], 'late', 60_000).source;
    let message = '';
    try {
      await loadSecrets({ s: hanging }, { retry: { deadline: 200 } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('deadline of 200 ms');
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('retries give up after `retries` more attempts', async () => {
    const { source, calls } = flaky(Array(10).fill('ERR_SOURCE_UNAVAILABLE'), 'never');
    expect(await asyncErrorCode(() => loadSecrets({ s: source }, { retry: { retries: 2, minDelay: 1, maxDelay: 2 } }))).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(calls()).toBe(3);
  });
});

describe('refresh()', () => {
  it('asked for while a read is under way, waits for that read: both resolve once the new version is served', async () => {
    const spec = { kind: 'test', where: 'slow' };
    let value = 'one';
    let release: (() => void) | undefined;
    const source = defineSource({
      ...spec,
      remote: false,
      load: async () => {
        if (value !== 'one') await new Promise<void>((resolve) => (release = resolve));
        return Enclave.from(Buffer.from(value));
      },
    });
    const store = await loadSecrets({ s: source });
    value = 'two';
    const first = store.refresh('s');
    const second = store.refresh('s');
    let settled = false;
    void second.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false); // the read is still under way
    release?.();
    await Promise.all([first, second]);
    expect(textOf(store.get('s'))).toBe('two');
    expect(store.version('s')).toBe(2);
    store.close();
  });
});

describe('close()', () => {
  it('is idempotent; afterwards get and use are ERR_DESTROYED and has is false', async () => {
    const store = await loadSecrets({ a: file(write('c', 'x')) });
    store.close();
    store.close();
    expect(store.closed).toBe(true);
    expect(errorCode(() => store.get('a'))).toBe('ERR_DESTROYED');
    expect(errorCode(() => store.use('a', () => 0))).toBe('ERR_DESTROYED');
    expect(store.has('a')).toBe(false);
  });

  it('ends a refresh under way: no attempt after it, nothing reported, and the refresh resolves at once', async () => {
    const spec = { kind: 'test', where: 'flaky' };
    let loads = 0;
    let down = false;
    const source = defineSource({
      ...spec,
      remote: true,
      load: async () => {
        loads++;
        if (down) throw sourceError('ERR_SOURCE_UNAVAILABLE', spec, 'down for now');
        return Enclave.from(Buffer.from('v1'));
      },
    });
    const store = await loadSecrets({ s: source }, { retry: { minDelay: 40, maxDelay: 40, retries: 50, deadline: 10_000 } });
    down = true;
    const reported: unknown[] = [];
    store.on('error', (error) => reported.push(error));
    const refreshing = store.refresh('s');
    await new Promise((resolve) => setTimeout(resolve, 150)); // some attempts, then a wait between two
    store.close();
    const atClose = loads;
    const started = Date.now();
    await refreshing;
    expect(Date.now() - started).toBeLessThan(100);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(loads).toBe(atClose);
    expect(reported).toEqual([]);
  });
});
