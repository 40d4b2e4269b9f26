// Tests clean up after themselves: a folder a test made in the temp directory (named
// strongroom-*, as every test's is) and left behind may hold a file with secret bytes.
// Run as vitest's global setup: the folders present before the run are noted, and any new
// one left at the end is removed and fails the run, by name.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ours = (): string[] => fs.readdirSync(os.tmpdir()).filter((name) => name.startsWith('strongroom-'));

export default function setup(): () => void {
  const before = new Set(ours());
  return () => {
    const left = ours().filter((name) => !before.has(name));
    for (const name of left) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
    if (left.length > 0) {
      // A teardown's exception does not fail a vitest run: say it, and set the exit code.
      process.stderr.write(`\nFAIL tests left ${left.length} folder(s) in ${os.tmpdir()} (now removed): ${left.join(', ')}\n`);
      process.exitCode = 1;
    }
  };
}
