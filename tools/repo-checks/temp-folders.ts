// Tests clean up after themselves: a folder a test made in the temp directory (named
// strongroom-*, as every test's is) and left behind may hold a file with secret bytes.
// Run as vitest's global setup. Each run gets a temp directory of its own (TMPDIR, which
// the test workers and every child they start inherit), so that two runs on one machine
// never see, or remove, each other's folders. At the end any strongroom-* folder left in
// it is named and fails the run; the run's directory is removed either way.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ours = (dir: string): string[] => fs.readdirSync(dir).filter((name) => name.startsWith('strongroom-'));

export default function setup(): () => void {
  const outer = os.tmpdir();
  const previous = process.env.TMPDIR;
  // Not named strongroom-*: a folder of this run is not a test's leftover to another run.
  const runDir = fs.mkdtempSync(path.join(outer, 'vitest-run-'));
  process.env.TMPDIR = runDir;
  return () => {
    const left = ours(runDir);
    fs.rmSync(runDir, { recursive: true, force: true });
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
    if (left.length > 0) {
      // A teardown's exception does not fail a vitest run: say it, and set the exit code.
      process.stderr.write(`\nFAIL tests left ${left.length} folder(s) in the run's temp directory (now removed): ${left.join(', ')}\n`);
      process.exitCode = 1;
    }
  };
}
