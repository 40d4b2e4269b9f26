// env(), file() and systemdCredential(): each loads into an Enclave through the native
// readers, and each failure is a typed source error naming the source, never the value,
// with no descriptor left open. file({ watch }) follows a Kubernetes-style ..data swap.
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { asyncErrorCode, errorCode, openFileDescriptors, rejectionOf } from '@strongroom/testkit';

import { env, file, loadSecrets, systemdCredential } from '../src/index.js';
import { isRoot, tempFolder, textOf } from './helpers.js';

const { dir, remove } = tempFolder('local');
afterAll(remove);

function write(name: string, content: string | Buffer, mode = 0o600): string {
  const target = path.join(dir, name);
  fs.writeFileSync(target, content, { mode });
  return target;
}

describe('env()', () => {
  it('loads a variable, removes it from the environment', async () => {
    process.env.STRONGROOM_TEST_SECRET = 'env-value-1';
    const store = await loadSecrets({ token: env('STRONGROOM_TEST_SECRET') });
    expect(textOf(store.get('token'))).toBe('env-value-1');
    expect(process.env.STRONGROOM_TEST_SECRET).toBeUndefined();
    await store.refresh('token'); // gone from the environment: the first read is kept
    expect(store.version('token')).toBe(1);
    store.close();
  });

  it('{ remove: false } leaves it; an unset variable is ERR_SECRET_NOT_FOUND naming it', async () => {
    process.env.STRONGROOM_TEST_KEEP = 'kept';
    const store = await loadSecrets({ token: env('STRONGROOM_TEST_KEEP', { remove: false }) });
    expect(process.env.STRONGROOM_TEST_KEEP).toBe('kept');
    delete process.env.STRONGROOM_TEST_KEEP;
    store.close();
    const error = await rejectionOf(loadSecrets({ token: env('STRONGROOM_TEST_UNSET') }));
    expect(error.code).toBe('ERR_SECRET_NOT_FOUND');
    expect(error.message).toContain('$STRONGROOM_TEST_UNSET');
    expect(error.message).toContain("'token'");
  });

  it('bad arguments are ERR_INVALID_ARG at once', () => {
    expect(errorCode(() => env(''))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => env('A=B'))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => env('A', { delete: true } as never))).toBe('ERR_INVALID_ARG');
  });
});

describe('file()', () => {
  it('loads a file; every failure is typed, names the path, holds no content, leaks no descriptor', async () => {
    const good = write('good', 'file-secret');
    const store = await loadSecrets({ db: file(good) });
    expect(textOf(store.get('db'))).toBe('file-secret');
    store.close();

    fs.mkdirSync(path.join(dir, 'a-folder'), { recursive: true });
    const cases: Array<[string, string, string]> = [
      ['missing', path.join(dir, 'missing'), 'ERR_SECRET_NOT_FOUND'],
      ['a directory', path.join(dir, 'a-folder'), 'ERR_SOURCE_UNAVAILABLE'],
      ['empty', write('empty', ''), 'ERR_SOURCE_FORMAT'],
      ['over maxSize', write('big', 'x'.repeat(100)), 'ERR_SOURCE_FORMAT'],
    ];
    const fds = openFileDescriptors().length;
    for (const [, target, code] of cases) {
      const error = await rejectionOf(loadSecrets({ db: file(target, { maxSize: 64 }) }));
      expect(error.code, target).toBe(code);
      expect(error.message).toContain(target);
      expect(error.message).not.toContain('xxxx');
    }
    expect(openFileDescriptors().length).toBe(fds);
  });

  it.skipIf(isRoot)('an unreadable file (mode 000, as a non-root user) is ERR_SOURCE_UNAVAILABLE', async () => {
    const locked = write('locked', 'nope', 0o000);
    expect((await rejectionOf(loadSecrets({ db: file(locked) }))).code).toBe('ERR_SOURCE_UNAVAILABLE');
  });

  it('{ watch }: a Kubernetes ..data symlink swap is a rotation; the old version served until then', async () => {
    // the layout kubelet writes: name -> ..data/name, ..data -> ..<timestamp>/
    const mount = path.join(dir, 'mount');
    fs.mkdirSync(path.join(mount, '..2026_11_30_v1'), { recursive: true });
    fs.writeFileSync(path.join(mount, '..2026_11_30_v1', 'api-key'), 'version-one');
    fs.symlinkSync('..2026_11_30_v1', path.join(mount, '..data'));
    fs.symlinkSync(path.join('..data', 'api-key'), path.join(mount, 'api-key'));
    const store = await loadSecrets({ api: file(path.join(mount, 'api-key'), { watch: true }) });
    try {
      expect(textOf(store.get('api'))).toBe('version-one');
      const rotated = once(store, 'rotate');
      fs.mkdirSync(path.join(mount, '..2026_11_30_v2'));
      fs.writeFileSync(path.join(mount, '..2026_11_30_v2', 'api-key'), 'version-two');
      fs.symlinkSync('..2026_11_30_v2', path.join(mount, '..data_tmp'));
      fs.renameSync(path.join(mount, '..data_tmp'), path.join(mount, '..data')); // atomic swap
      expect(await rotated).toEqual(['api', 2]);
      expect(textOf(store.get('api'))).toBe('version-two');
      expect(store.version('api')).toBe(2);
    } finally {
      store.close();
    }
  });

  it('{ owner, maxMode }: judged at every load on the file opened; a wider or foreign file is ERR_SOURCE_UNAVAILABLE', async () => {
    const uid = process.getuid!();
    const target = write('ruled', 'ruled-secret', 0o600);
    const store = await loadSecrets({ db: file(target, { owner: uid, maxMode: 0o600 }) });
    expect(textOf(store.get('db'))).toBe('ruled-secret');
    store.close();

    const fds = openFileDescriptors().length;
    fs.chmodSync(target, 0o644);
    const wide = await rejectionOf(loadSecrets({ db: file(target, { maxMode: 0o600 }) }));
    expect(wide.code).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(wide.message).toContain(`file source ${target}: ${target} has mode 0644, wider than the 0600 allowed`);
    expect(wide.message).not.toContain('ruled-secret');
    const foreign = await rejectionOf(loadSecrets({ db: file(target, { owner: uid === 0 ? 65534 : 0 }) }));
    expect(foreign.code).toBe('ERR_SOURCE_UNAVAILABLE');
    expect(foreign.message).toContain(`belongs to uid ${uid}`);
    expect(openFileDescriptors().length).toBe(fds);
  });

  it('bad arguments are ERR_INVALID_ARG at once', () => {
    expect(errorCode(() => file('/x', { owner: -1 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => file('/x', { maxMode: 0o10000 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => file('/x', { maxMode: '600' } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => file(''))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => file('/x', { watch: 'yes' } as never))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => file('/x', { maxSize: 0 }))).toBe('ERR_INVALID_ARG');
    expect(errorCode(() => (file as (...args: unknown[]) => unknown)('/x', {}, 1))).toBe('ERR_INVALID_ARG');
  });
});

describe('systemdCredential()', () => {
  it('reads $CREDENTIALS_DIRECTORY/name; without the variable, an error that names it', async () => {
    const saved = process.env.CREDENTIALS_DIRECTORY;
    try {
      delete process.env.CREDENTIALS_DIRECTORY;
      const error = await rejectionOf(loadSecrets({ db: systemdCredential('db-password') }));
      expect(error.code).toBe('ERR_SOURCE_UNAVAILABLE');
      expect(error.message).toContain('CREDENTIALS_DIRECTORY');
      const credentials = path.join(dir, 'credentials');
      fs.mkdirSync(credentials, { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(credentials, 'db-password'), 'from-systemd', { mode: 0o400 });
      process.env.CREDENTIALS_DIRECTORY = credentials;
      const store = await loadSecrets({ db: systemdCredential('db-password') });
      expect(textOf(store.get('db'))).toBe('from-systemd');
      store.close();
      expect(await asyncErrorCode(() => loadSecrets({ db: systemdCredential('other') }))).toBe('ERR_SECRET_NOT_FOUND');
    } finally {
      if (saved === undefined) delete process.env.CREDENTIALS_DIRECTORY;
      else process.env.CREDENTIALS_DIRECTORY = saved;
    }
  });

  it('a name with a slash, or . and .., is ERR_INVALID_ARG', () => {
    for (const name of ['a/b', '.', '..', '']) expect(errorCode(() => systemdCredential(name))).toBe('ERR_INVALID_ARG');
  });
});
