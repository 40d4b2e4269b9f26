// Residue of gcpSecretManager(), in a child process running Google's real client
// (@google-cloud/secret-manager 6.x, REST transport: `fallback: true`, gaxios over Node's
// fetch) against the protocol double of Secret Manager (doubles.ts, in this process). After
// a load through loadSecrets and a forced GC, what the README's table says: the secret's own
// bytes (the marker) are in no readable memory of the child (the `payload.data` Buffer the
// client decoded them into is overwritten with zeros); its base64 text is, where the client
// left it (the buffers the answer passed through, in the C heap; in the JS heap, where its
// strings were: the text and the `payload.data` string), and only in ordinary read-write
// memory. The controls: the opened Enclave in its guarded region and a heap copy of it; the
// base64 text, found where the client left it.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expectResidue, makeMarker, startChild, type ScanResult } from '@strongroom/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SecretManagerDouble } from './doubles.js';
import { CHILD_START, guarded, openedCode, openedStage } from './residue-helpers.js';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SECRET = 'projects/demo/secrets/residue';

let double: SecretManagerDouble;
beforeAll(async () => {
  double = await new SecretManagerDouble().start();
});
afterAll(() => double.stop());

function childCode(port: number): string {
  return `${CHILD_START}
import { SecretManagerServiceClient } from '@google-cloud/secret-manager';
import { OAuth2Client } from 'google-auth-library';
import { gcpSecretManager, loadSecrets } from '@strongroom/kms-loaders';
// An unexpired access token: the client asks no token endpoint (the token is not the secret here).
const auth = new OAuth2Client();
auth.setCredentials({ access_token: process.env.GCP_ACCESS_TOKEN, expiry_date: Date.now() + 3_600_000 });
const client = new SecretManagerServiceClient({ fallback: true, apiEndpoint: '127.0.0.1', port: ${port}, protocol: 'http', authClient: auth });
await settle('before');
const store = await loadSecrets({ s: gcpSecretManager({ client, name: '${SECRET}/versions/latest' }) });
await settle('loaded');
${openedCode()}
await client.close();
await settle('closed');
`;
}

const describeAll = (found: ScanResult): string => found.matches.map((m) => `${m.mapping.perms} ${m.mapping.path || '(anonymous)'}`).join(', ');

describe("gcpSecretManager() residue (Google's client, REST transport)", () => {
  it("the secret's bytes are nowhere after the load; only its base64 text, which the client keeps, in ordinary read-write memory", async () => {
    const marker = makeMarker(48);
    double.add(SECRET, marker);
    const base64 = new Uint8Array(Buffer.from(Buffer.from(marker).toString('base64'), 'latin1'));
    const child = await startChild(childCode(double.port), {
      cwd: PACKAGE_DIR,
      args: ['--expose-gc'],
      env: { GCP_ACCESS_TOKEN: double.accessToken },
      timeoutMs: 60_000,
    });
    const encoded = (): Promise<ScanResult> => child.scan(base64);
    await expectResidue(child, marker, [
      { at: 'before', count: 0, check: async () => expect((await encoded()).matches).toEqual([]) },
      {
        at: 'loaded', // the bytes nowhere, not even in the client's payload.data (overwritten with zeros)
        count: 0,
        check: async () => {
          // The README's row: the base64 text of the answer, the client's (its buffers, its strings),
          // found (the base64's control) and only in ordinary read-write memory, never in guarded pages.
          const text = await encoded();
          expect(text.matches.length, describeAll(text)).toBeGreaterThan(0);
          expect(guarded(text), describeAll(text)).toEqual([]);
          expect(text.matches.every((m) => m.mapping.perms.startsWith('rw')), describeAll(text)).toBe(true);
          // (4 to 7 copies in the runs tried on Node 20, 22 and 24: in [heap] and in anonymous
          // mappings, which hold malloc's memory as well as the JS heap's pages, so where each
          // lies is not pinned.)
        },
      },
      openedStage(marker.length), // the control: the opened secret in its guarded region, and its heap copy
      {
        at: 'closed',
        count: 0,
        check: async () => {
          const text = await encoded(); // what is left of the client's copies stays in read-write memory
          expect(text.matches.every((m) => m.mapping.perms.startsWith('rw')), describeAll(text)).toBe(true);
        },
      },
    ]);
    expect(double.log.filter((l) => l.path === `/v1/${SECRET}/versions/latest:access`)).toHaveLength(1);
  });
});
