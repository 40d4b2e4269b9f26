// strongroom({ secrets, required }): named Enclaves on req.secrets and app.locals.secrets,
// against real Express 4 and 5 servers; no way to list them; a missing required name is an
// error at start-up; use() destroys what it opened on every path.
import { inspect } from 'node:util';

import { afterEach, describe, expect, it } from 'vitest';
import { errorCode, extraArgumentFailures } from '@strongroom/testkit';
import { Enclave, SecretBuffer, StrongroomError } from '@strongroom/enclave';

import { Secrets, strongroom, type SecretsRequest } from '../src/index.js';
import { MAJORS, startApp, type RunningApp } from './helpers.js';

const running: RunningApp[] = [];
afterEach(async () => {
  for (const server of running.splice(0)) await server.close();
});

function sealedText(text: string): Enclave {
  return Enclave.from(new TextEncoder().encode(text));
}

describe.each(MAJORS)('$name', (major) => {
  async function serve(middleware: ReturnType<typeof strongroom>): Promise<RunningApp> {
    const server = await startApp(major, (app) => {
      app.use(middleware);
      app.get('/size/:name', (req, res) => {
        const { secrets } = req as unknown as SecretsRequest;
        res.json({ size: secrets.use(req.params.name as string, (secret) => secret.size), locals: req.app.locals.secrets === secrets });
      });
      app.get('/async/:name', async (req, res, next) => {
        try {
          const { secrets } = req as unknown as SecretsRequest;
          const equal = await secrets.use(req.params.name as string, async (secret) => {
            await new Promise((resolve) => setTimeout(resolve, 5));
            return secret.equals(new TextEncoder().encode('hunter2'));
          });
          res.json({ equal, live: SecretBuffer.live().buffers });
        } catch (error) {
          next(error);
        }
      });
    });
    running.push(server);
    return server;
  }

  it('req.secrets and app.locals.secrets hold the store; use() opens a secret for one call', async () => {
    const middleware = strongroom({ secrets: { password: sealedText('hunter2'), key: Enclave.random(32) } });
    const { url } = await serve(middleware);
    expect(await (await fetch(`${url}/size/key`)).json()).toEqual({ size: 32, locals: true });
    expect(await (await fetch(`${url}/async/password`)).json()).toEqual({ equal: true, live: 0 });
    expect(middleware.secrets).toBeInstanceOf(Secrets);
    expect(middleware.name).toBe('strongroomSecrets');
  });

  it('a name the store does not hold is ERR_SECRET_NOT_FOUND, passed to the error handler', async () => {
    const { url } = await serve(strongroom({ secrets: { key: Enclave.random(32) } }));
    const response = await fetch(`${url}/size/nope`);
    expect(response.status).toBe(500);
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('ERR_SECRET_NOT_FOUND');
  });

  it('a Map is asked on every request, so a rotated secret is seen at once', async () => {
    const map = new Map([['key', Enclave.random(16)]]);
    const { url } = await serve(strongroom({ secrets: map }));
    expect(await (await fetch(`${url}/size/key`)).json()).toMatchObject({ size: 16 });
    map.set('key', Enclave.random(48));
    expect(await (await fetch(`${url}/size/key`)).json()).toMatchObject({ size: 48 });
  });
});

describe('the store', () => {
  it('cannot be listed: no keys, no iteration, and inspect, JSON and String show no name', () => {
    const { secrets } = strongroom({ secrets: { 'database-password': Enclave.random(8) } });
    expect(Object.keys(secrets)).toEqual([]);
    expect(Reflect.ownKeys(secrets)).toEqual([]);
    expect((secrets as unknown as { [Symbol.iterator]?: unknown })[Symbol.iterator]).toBeUndefined();
    for (const shown of [inspect(secrets), JSON.stringify(secrets), String(secrets), inspect({ secrets }, { showHidden: true, depth: 5 })]) {
      expect(shown).not.toContain('database-password');
    }
    expect(secrets.has('database-password')).toBe(true);
    expect(secrets.has('other')).toBe(false);
  });

  it('a plain object is read by own keys only: a polluted prototype adds nothing', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto['injected'] = Enclave.random(8);
    try {
      const { secrets } = strongroom({ secrets: { key: Enclave.random(8) } });
      expect(secrets.has('injected')).toBe(false);
      expect(errorCode(() => secrets.get('injected'))).toBe('ERR_SECRET_NOT_FOUND');
      expect(errorCode(() => secrets.get('toString'))).toBe('ERR_SECRET_NOT_FOUND');
    } finally {
      delete proto['injected'];
    }
  });

  it('a store with get(name) (the loaders SecretStore) is asked each time, and what it gives is checked', () => {
    const key = Enclave.random(8);
    let value: unknown = key;
    const { secrets } = strongroom({ secrets: { get: (name: string) => (name === 'key' ? value : undefined) } as never });
    expect(secrets.get('key')).toBe(key);
    value = 'not an enclave';
    expect(errorCode(() => secrets.get('key'))).toBe('ERR_INVALID_ARG');
  });

  it('an own property named get that is an Enclave is a secret, not a store method', () => {
    const { secrets } = strongroom({ secrets: { get: Enclave.random(8) } as never });
    expect(secrets.get('get').size).toBe(8);
  });

  it('a get() lent by a polluted Object.prototype does not make a plain object a store', () => {
    const proto = Object.prototype as Record<string, unknown>;
    const key = Enclave.random(4);
    let seen: unknown[] = [];
    // Assertions after the pollution is gone: the test framework itself trips over it.
    proto['get'] = () => Enclave.random(8);
    try {
      const { secrets } = strongroom({ secrets: { key } });
      seen = [secrets.get('key') === key, secrets.has('anything')];
    } finally {
      delete proto['get'];
    }
    expect(seen).toEqual([true, false]);
  });

  it('use() destroys the opened buffer when fn returns, throws, or its promise settles', async () => {
    const { secrets } = strongroom({ secrets: { key: Enclave.random(8) } });
    let kept: SecretBuffer | undefined;
    expect(secrets.use('key', (secret) => ((kept = secret), secret.size))).toBe(8);
    expect(kept?.destroyed).toBe(true);
    expect(() =>
      secrets.use('key', (secret) => {
        kept = secret;
        throw new Error('handler failed');
      }),
    ).toThrow('handler failed');
    expect(kept?.destroyed).toBe(true);
    await expect(
      secrets.use('key', async (secret) => {
        kept = secret;
        await new Promise((resolve) => setTimeout(resolve, 1));
        expect(secret.destroyed).toBe(false);
        throw new Error('async failure');
      }),
    ).rejects.toThrow('async failure');
    expect(kept?.destroyed).toBe(true);
    expect(SecretBuffer.live().buffers).toBe(0);
  });
});

describe('start-up errors', () => {
  it('a name in required that the store does not hold is ERR_SECRET_NOT_FOUND from strongroom() itself', () => {
    expect(errorCode(() => strongroom({ secrets: { a: Enclave.random(8) }, required: ['a', 'b'] }))).toBe('ERR_SECRET_NOT_FOUND');
    expect(() => strongroom({ secrets: new Map(), required: ['signing-key'] })).toThrow(/'signing-key'/);
    expect(errorCode(() => strongroom({ secrets: { a: Enclave.random(8) }, required: ['a'] }))).toBeUndefined();
  });

  it.each([
    ['no options', undefined],
    ['a misspelt option', { secret: {} }],
    ['no secrets', { required: [] }],
    ['secrets a string', { secrets: 'key=value' }],
    ['a value that is not an Enclave', { secrets: { key: 'hunter2' } }],
    ['a SecretBuffer instead of an Enclave', { secrets: { key: SecretBuffer } }],
    ['a Map value that is not an Enclave', { secrets: new Map([['key', Buffer.from('x')]]) }],
    ['required not an array', { secrets: {}, required: 'key' }],
    ['a required name that is not a string', { secrets: {}, required: [1] }],
  ])('%s: ERR_INVALID_ARG, with no value in the message', (_name, options) => {
    let caught: unknown;
    try {
      (strongroom as (options?: unknown) => unknown)(options);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(StrongroomError);
    expect((caught as StrongroomError).code).toBe('ERR_INVALID_ARG');
    expect((caught as Error).message).not.toContain('hunter2');
    expect((caught as Error).message).not.toContain('key=value');
  });

  it('every function refuses extra arguments', () => {
    const middleware = strongroom({ secrets: { key: Enclave.random(8) } });
    const { secrets } = middleware;
    const call =
      (fn: (...args: never[]) => unknown, self: unknown, ...args: unknown[]) =>
      () =>
        (fn as (...args: unknown[]) => unknown).apply(self, args);
    expect(
      extraArgumentFailures([
        ['strongroom()', call(strongroom, undefined, { secrets: {} }, 1)],
        ['get()', call(secrets.get, secrets, 'key', 1)],
        ['has()', call(secrets.has, secrets, 'key', 1)],
        ['use()', call(secrets.use, secrets, 'key', () => 0, 1)],
      ]),
    ).toEqual([]);
  });
});
