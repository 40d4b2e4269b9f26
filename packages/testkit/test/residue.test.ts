import { afterEach, describe, expect, it } from 'vitest';
import {
  expectResidue,
  heapMarkerCode,
  makeMarker,
  startChild,
  type ChildHandle,
  type ChildResult,
  type ResidueStage,
  type ScanResult,
} from '../src/index.js';

const handles: ChildHandle[] = [];
afterEach(() => {
  for (const handle of handles.splice(0)) handle.kill();
});

// A heap Buffer holding the marker at 'planted', zero-filled at 'wiped'; then exits with EXIT.
async function planted(marker: Uint8Array, exit = 0): Promise<ChildHandle> {
  const child = await startChild(
    `${heapMarkerCode('secret', marker)}
     await checkpoint('planted', { size: secret.length });
     secret.fill(0);
     await checkpoint('wiped');
     process.exitCode = ${exit};`,
    { timeoutMs: 20_000 },
  );
  handles.push(child);
  return child;
}

const LIFE: ResidueStage[] = [
  { at: 'planted', data: { size: 32 }, present: true, perms: 'rw' },
  { at: 'wiped', present: false },
];

/** A handle that never runs: each waitFor resolves with `data`, each scan gives `found`. */
function fakeChild(found: Partial<ScanResult>, data: unknown = undefined): ChildHandle & { log: string[] } {
  const log: string[] = [];
  const result: ChildResult = { code: 0, signal: null, stdout: '', stderr: '' };
  return {
    pid: 0,
    log,
    waitFor: (label) => (log.push(`wait ${label}`), Promise.resolve(data)),
    resume: () => void log.push('resume'),
    scan: () => (log.push('scan'), Promise.resolve({ matches: [], scannedMappings: 40, scannedBytes: 50 << 20, unreadable: [], ...found })),
    kill: () => void log.push('kill'),
    exited: Promise.resolve(result),
  };
}

describe('expectResidue', () => {
  it('walks the stages: the marker in the heap (positive control), then nowhere; resolves with the exit', async () => {
    const marker = makeMarker();
    const child = await planted(marker);
    const result = await expectResidue(child, marker, [
      { at: 'planted', data: { size: 32 }, count: 1, perms: 'rw' },
      { at: 'wiped', present: false },
    ]);
    expect(result.code).toBe(0);
  });

  it('fails when a stage expects the marker and the scan finds none, names the stage and kills the child', async () => {
    const marker = makeMarker();
    const child = await planted(marker);
    await expect(expectResidue(child, marker, [LIFE[0]!, { at: 'wiped', present: true }])).rejects.toThrow(
      /^expectResidue: stage 'wiped' \(2 of 2\): expected the marker at least once \(a positive control\), found none in \d+ mappings/,
    );
    expect((await child.exited).signal).toBe('SIGKILL');
  });

  it('fails when a stage expects no copy and the scan finds one, and says where it is', async () => {
    const marker = makeMarker();
    const child = await planted(marker);
    await expect(expectResidue(child, marker, [{ at: 'planted', present: false }, LIFE[1]!])).rejects.toThrow(
      /^expectResidue: stage 'planted' \(1 of 2\): expected no copy of the marker, found once: 0x[0-9a-f]+ in rw/,
    );
    expect((await child.exited).signal).toBe('SIGKILL');
  });

  it('fails on a wrong count, on a copy outside perms, and on other checkpoint data', async () => {
    const marker = makeMarker();
    const cases: Array<[ResidueStage, RegExp]> = [
      [{ at: 'planted', count: 2 }, /stage 'planted' \(1 of 2\): expected the marker exactly 2 times, found once: 0x/],
      [{ at: 'planted', atMost: 0 }, /stage 'planted' \(1 of 2\): expected the marker at most 0 times, found once: 0x/],
      [{ at: 'planted', atMost: 1, perms: '---' }, /stage 'planted' \(1 of 2\): expected every copy in a mapping with perms '---…', found 0x[0-9a-f]+ in rw/],
      [{ at: 'planted', present: true, perms: '---' }, /stage 'planted' \(1 of 2\): expected every copy in a mapping with perms '---…', found 0x[0-9a-f]+ in rw/],
      [{ at: 'planted', data: { size: 31 }, present: true }, /stage 'planted' \(1 of 2\): checkpoint data \{ size: 32 \}, expected \{ size: 31 \}/],
    ];
    for (const [stage, message] of cases) {
      const child = await planted(marker);
      await expect(expectResidue(child, marker, [stage, LIFE[1]!])).rejects.toThrow(message);
    }
  });

  it('atMost passes with that many copies or fewer', async () => {
    const marker = makeMarker();
    await expectResidue(await planted(marker), marker, [{ at: 'planted', atMost: 1, perms: 'rw' }, { at: 'wiped', atMost: 1 }]);
  });

  it("runs check with the scan and the data; its failure keeps its error and gains the stage's name", async () => {
    const marker = makeMarker();
    const seen: unknown[] = [];
    await expectResidue(await planted(marker), marker, [
      { at: 'planted', present: true, check: (found, data) => seen.push(found.matches.length, data) },
      LIFE[1]!,
    ]);
    expect(seen).toEqual([1, { size: 32 }]);
    const failing = expectResidue(await planted(marker), marker, [
      { at: 'planted', present: true, check: (found) => expect(found.matches).toHaveLength(3) },
      LIFE[1]!,
    ]);
    await expect(failing).rejects.toThrow(/^expectResidue: stage 'planted' \(1 of 2\): expected \[ \{.*\} \] to have a length of 3/s);
    await expect(failing).rejects.toHaveProperty('name', 'AssertionError');
  });

  it('checks the exit code after the last stage (default 0)', async () => {
    const marker = makeMarker();
    await expect(expectResidue(await planted(marker, 3), marker, LIFE)).rejects.toThrow(
      /^expectResidue: after the last stage the child exited with code 3, expected exit code 0/,
    );
    expect((await expectResidue(await planted(marker, 3), marker, LIFE, { exitCode: 3 })).code).toBe(3);
  });

  it('names the stage whose checkpoint never came', async () => {
    const marker = makeMarker();
    await expect(expectResidue(await planted(marker), marker, [...LIFE, { at: 'never', present: false }])).rejects.toThrow(
      /^expectResidue: stage 'never' \(3 of 3\): waitFor: the child exited with code 0 before checkpoint 'never'/,
    );
  });

  it('resumes, then runs afterResume; a stage without present or count does not scan', async () => {
    const child = fakeChild({}, 'data');
    await expectResidue(child, makeMarker(), [
      { at: 'one', data: 'data', afterResume: () => child.log.push('after one') },
      { at: 'two', present: false, afterResume: () => child.log.push('after two') },
    ]);
    expect(child.log).toEqual(['wait one', 'resume', 'after one', 'wait two', 'scan', 'resume', 'after two']);
  });

  it('refuses to call a marker absent after a scan that read almost nothing', async () => {
    const child = fakeChild({ scannedBytes: 4096, scannedMappings: 1 });
    await expect(expectResidue(child, makeMarker(), [{ at: 'one', present: false }])).rejects.toThrow(
      /stage 'one' \(1 of 1\): the scan read only 4096 bytes \(1 mappings\): too little to show that the marker is absent/,
    );
    expect(child.log).toEqual(['wait one', 'scan', 'kill']);
  });

  it('refuses stage tables that cannot mean anything, before touching the child', async () => {
    const child = fakeChild({});
    const marker = makeMarker();
    const bad: Array<[ResidueStage[], RegExp]> = [
      [[], /stages must be a non-empty array/],
      [[{ at: '' }], /every stage needs a checkpoint label/],
      [[{ at: 'x', count: -1 }], /count must be a non-negative integer/],
      [[{ at: 'x', present: true, count: 0 }], /present: true contradicts count: 0/],
      [[{ at: 'x', atMost: 1, present: true }], /atMost must be a non-negative integer, given without present or count/],
      [[{ at: 'x', atMost: -1 }], /atMost must be a non-negative integer/],
      [[{ at: 'x', perms: '---' }], /perms and check need a scan/],
      [[{ at: 'x', check: () => undefined }], /perms and check need a scan/],
      [[{ at: 'x', present: false, perms: '---' }], /the stage expects none/],
    ];
    for (const [stages, message] of bad) await expect(expectResidue(child, marker, stages)).rejects.toThrow(message);
    await expect(expectResidue(child, new Uint8Array(0), [{ at: 'x' }])).rejects.toThrow(RangeError);
    expect(child.log).toEqual([]);
  });
});
