// The fuzz target of the delimiter reader (fuzz/delimiter_reader.cc, run by
// scripts/fuzz.mjs): a bounded run finds no crash, every saved regression input and seed
// still passes, and the target can fail: with a deliberate off-by-one planted in its model
// it finds a crash from an empty corpus, saves the input and exits 1. clang and its
// libFuzzer runtime come from scripts/setup.sh; without them these tests fail and say so.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { PACKAGE_DIR } from './helpers.js';

const SCRIPT = path.join(PACKAGE_DIR, 'scripts', 'fuzz.mjs');
const REGRESSIONS = path.join(PACKAGE_DIR, 'fuzz', 'regressions');
const SEEDS = path.join(PACKAGE_DIR, 'fuzz', 'corpus', 'delimiter_reader');
const FUZZ_SECONDS = 12;

interface Run {
  code: number;
  output: string;
}

function fuzzScript(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [SCRIPT, ...args],
      { cwd: PACKAGE_DIR, env: { ...process.env, ...env }, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: `${stdout}${stderr}` });
      },
    );
  });
}

/** Fails with the script's own words when clang or libFuzzer is missing (exit 2). */
function expectToolchain(run: Run): void {
  if (run.code === 2) throw new Error(`no usable clang/libFuzzer; run \`bash scripts/setup.sh\`:\n${run.output}`);
}

function inputsIn(dir: string): string[] {
  return fs
    .readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .map((name) => path.join(dir, name));
}

describe('fuzzing the delimiter reader (scripts/fuzz.mjs)', () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-fuzz-test-'));

  afterAll(() => {
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it(`a ${FUZZ_SECONDS}-second run from the seed corpus finds no crash`, { timeout: 240_000 }, async () => {
    const run = await fuzzScript([String(FUZZ_SECONDS), '--crashes', path.join(scratch, 'crashes')]);
    expectToolchain(run);
    expect(run.output, run.output).toMatch(/delimiter_reader: no crash: [1-9]\d* executions \(\d+ per second\)/);
    expect(run.code, run.output).toBe(0);
    expect(fs.readdirSync(path.join(scratch, 'crashes'))).toEqual([]);
  });

  it('every input in fuzz/regressions/ and every seed replays without a failure', { timeout: 240_000 }, async () => {
    const inputs = [...inputsIn(REGRESSIONS), ...inputsIn(SEEDS)];
    expect(inputsIn(SEEDS).length).toBeGreaterThan(5);
    const run = await fuzzScript(['--replay', ...inputs]);
    expectToolchain(run);
    expect(run.output, run.output).toContain(`replayed ${inputs.length} input(s), all passed`);
    expect(run.code, run.output).toBe(0);
  });

  it('can fail: with an off-by-one planted in its model it finds a crash from nothing, saves it and exits 1', { timeout: 240_000 }, async () => {
    const crashes = path.join(scratch, 'planted');
    const run = await fuzzScript(['15', '--planted-bug', '--no-seeds', '--crashes', crashes]);
    expectToolchain(run);
    expect(run.code, run.output).toBe(1);
    expect(run.output).toMatch(/delimiter_reader: CRASH .*\n.*invariant violated: expected ERR_TOO_LARGE, got a region of \d+ bytes/);
    const saved = fs.readdirSync(crashes).filter((name) => name.startsWith('crash-'));
    expect(saved).toHaveLength(1);
    expect(run.output).toContain(path.join(crashes, saved[0] as string));

    // The saved input replays: it fails the planted model and passes the true one.
    const input = path.join(crashes, saved[0] as string);
    expect((await fuzzScript(['--planted-bug', '--replay', input])).code).toBe(1);
    expect((await fuzzScript(['--replay', input])).code).toBe(0);
  });

  it('without a usable clang it fails, saying to run scripts/setup.sh', async () => {
    const run = await fuzzScript(['1'], { STRONGROOM_FUZZ_CXX: path.join(scratch, 'no-such-clang++') });
    expect(run.code, run.output).toBe(2);
    expect(run.output).toMatch(/no-such-clang\+\+ was not found: run `bash scripts\/setup\.sh`/);
  });
});
