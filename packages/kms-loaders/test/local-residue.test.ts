// Residue of env(), file() and systemdCredential(), each in a child process: after a load
// through loadSecrets and a forced GC, the marker is in no readable memory of the child (the
// README's table: for env(), its bytes in the environment block overwritten; for file() and
// systemdCredential(), read(2) straight into a guarded region, nothing anywhere else). The
// controls: for env(), the scan finds the marker in the environment block before the load;
// for each, opening the Enclave puts it in one guarded region and a deliberate heap copy in
// ordinary memory, and the scan finds both.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { expectResidue, makeMarker, startChild, textMarker, type ChildOptions, type ResidueStage } from '@strongroom/testkit';
import { afterAll, describe, expect, it } from 'vitest';

import { tempFolder } from './helpers.js';
import { CHILD_START, openedCode, openedStage } from './residue-helpers.js';

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { dir, remove } = tempFolder('local-residue');
afterAll(remove);

/**
 * The child: waits at 'before', loads `source` (an expression over env, file,
 * systemdCredential) through loadSecrets, and pauses at 'loaded' (with `loadedData`), at
 * 'opened' (the Enclave opened, and a heap copy made of it), and at 'closed'.
 */
function childCode(source: string, loadedData = 'null'): string {
  return `${CHILD_START}
import { env, file, loadSecrets, systemdCredential } from '@strongroom/kms-loaders';
await settle('before');
const store = await loadSecrets({ s: ${source} });
await settle('loaded', ${loadedData});
${openedCode()}
await settle('closed');
`;
}

const CHILD: ChildOptions = { cwd: PACKAGE_DIR, args: ['--expose-gc'] };

/** 'loaded': nowhere; 'opened': once in its guarded region and once in the heap copy; 'closed': nowhere. */
function afterLoad(size: number, loaded: Partial<ResidueStage> = {}): ResidueStage[] {
  return [
    { at: 'loaded', count: 0, ...loaded },
    openedStage(size), // the positive control: the scan reads guarded pages at rest (PROT_NONE) and the JS heap
    { at: 'closed', count: 0 },
  ];
}

describe('residue of the local sources', () => {
  it('env(): the marker is in the environment block before the load, nowhere after it (the block overwritten)', async () => {
    const marker = textMarker(makeMarker(24)); // printable: an environment value is text
    const child = await startChild(childCode("env('STRONGROOM_RESIDUE_ENV')", "process.env.STRONGROOM_RESIDUE_ENV === undefined"), {
      ...CHILD,
      env: { STRONGROOM_RESIDUE_ENV: marker.text },
    });
    await expectResidue(child, marker.bytes, [
      {
        at: 'before', // the control: the environment block the kernel put on the stack holds it, once
        count: 1,
        check: (found) => expect(found.matches[0]?.mapping.path).toBe('[stack]'),
      },
      ...afterLoad(marker.bytes.length, { data: true }), // removed from process.env, its bytes overwritten
    ]);
  });

  it('file(): read(2) into a guarded region, nowhere else', async () => {
    const marker = makeMarker(40);
    const target = path.join(dir, 'file-secret');
    fs.writeFileSync(target, marker, { mode: 0o600 });
    const child = await startChild(childCode(`file(${JSON.stringify(target)})`), CHILD);
    await expectResidue(child, marker, [{ at: 'before', count: 0 }, ...afterLoad(marker.length)]);
  });

  it('systemdCredential(): $CREDENTIALS_DIRECTORY/name read as file() is, nowhere else', async () => {
    const marker = makeMarker(40);
    const credentials = path.join(dir, 'credentials');
    fs.mkdirSync(credentials, { mode: 0o700 });
    fs.writeFileSync(path.join(credentials, 'db-password'), marker, { mode: 0o400 });
    const child = await startChild(childCode("systemdCredential('db-password')"), { ...CHILD, env: { CREDENTIALS_DIRECTORY: credentials } });
    await expectResidue(child, marker, [{ at: 'before', count: 0 }, ...afterLoad(marker.length)]);
  });
});
