// @strongroom/kms-loaders' SecretStore behind strongroom({ secrets: store }) on a real
// Express server: the store is read on each request (a rotation is seen at once), has()
// is false for a name the store lacks (it throws ERR_SECRET_NOT_FOUND, which strongroom()
// reads as absent), and a required name it lacks fails at start-up. The loaders package
// is a devDependency here only: express's src never imports it (the store is duck-typed).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';
import { errorCode } from '@strongroom/testkit';
import { file, loadSecrets } from '@strongroom/kms-loaders';

import { strongroom, type SecretsRequest } from '../src/index.js';
import { MAJORS, startApp } from './helpers.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-express-store-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each(MAJORS)('$name', (major) => {
  it('a real server reads the store, sees a rotation, and a required name it lacks fails at start-up', async () => {
    const target = path.join(dir, `key-${major.major}`);
    fs.writeFileSync(target, 'first-key', { mode: 0o600 });
    const store = await loadSecrets({ webhook: file(target) });
    expect(errorCode(() => strongroom({ secrets: store, required: ['webhook', 'jwt'] }))).toBe('ERR_SECRET_NOT_FOUND');
    const server = await startApp(major, (app) => {
      app.use(strongroom({ secrets: store, required: ['webhook'] }));
      app.get('/size', (req, res) => {
        const { secrets } = req as unknown as SecretsRequest;
        res.json({ size: secrets.use('webhook', (secret) => secret.size), has: secrets.has('other') });
      });
    });
    const url = `${server.url}/size`;
    try {
      expect(await (await fetch(url)).json()).toEqual({ size: 9, has: false });
      fs.writeFileSync(target, 'the-second-key');
      await store.refresh('webhook');
      expect(await (await fetch(url)).json()).toEqual({ size: 14, has: false });
    } finally {
      await server.close();
      store.close();
    }
  });
});
