// Fault injection: the Nth call of mmap, mprotect, mlock, madvise, memfd_secret, ftruncate,
// read, getrandom or pthread_create made by the strongroom addon fails with a chosen errno,
// and the Nth C++ operator new (or new[]) in the addon's own code throws std::bad_alloc,
// in a child process. native/faults.c is an LD_PRELOAD shim that is also a Node-API module;
// testkit compiles it with the system C compiler on first use (into build/, git-ignored)
// and the child controls it through process.dlopen:
//
//   const result = await runNode(`${faultsPreamble()}
//     faults.watch();                                  // count the addon's calls from here
//     faults.fail('mlock', 1, os.constants.errno.EAGAIN);
//     ...`, { env: faultsEnv() });
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The calls the shim can make fail. */
export const FAULT_CALLS = [
  'mmap',
  'mprotect',
  'mlock',
  'madvise',
  'memfd_secret',
  'ftruncate',
  'read',
  'getrandom',
  'pthread_create',
  'new',
] as const;
export type FaultCall = (typeof FAULT_CALLS)[number];

const PACKAGE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = path.join(PACKAGE_DIR, 'native', 'faults.c');
const OUTPUT = path.join(PACKAGE_DIR, 'build', 'faults.node');

function nodeHeaders(): string {
  const candidates = [path.resolve(process.execPath, '..', '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'node_api.h')));
  if (found === undefined) {
    throw new Error(`faults: no node_api.h in ${candidates.join(', ')}; install Node's headers (the nodejs package's include/)`);
  }
  return found;
}

/**
 * The path of the compiled shim, built (or rebuilt when the source is newer) with `cc`.
 * Builds into a temporary file and renames it, so parallel test workers never load half a file.
 */
export function faultShim(): string {
  const fresh = fs.existsSync(OUTPUT) && fs.statSync(OUTPUT).mtimeMs >= fs.statSync(SOURCE).mtimeMs;
  if (fresh) return OUTPUT;
  fs.mkdirSync(path.dirname(OUTPUT), { recursive: true });
  const temporary = `${OUTPUT}.${process.pid}.tmp`;
  const result = spawnSync(
    'cc',
    // -fexceptions: the std::bad_alloc of a failed `new` unwinds through the shim's frames.
    ['-shared', '-fPIC', '-fexceptions', '-O1', '-Wall', '-Wextra', '-Werror', `-I${nodeHeaders()}`, '-o', temporary, SOURCE, '-ldl'],
    { encoding: 'utf8' },
  );
  if (result.error !== undefined || result.status !== 0) {
    fs.rmSync(temporary, { force: true });
    throw new Error(
      `faults: could not compile ${SOURCE} with cc (${result.error?.message ?? result.stderr.trim()}); ` +
        'install a C compiler (scripts/setup.sh does)',
    );
  }
  fs.renameSync(temporary, OUTPUT);
  return OUTPUT;
}

/** The environment of a child that runs with the shim preloaded. */
export function faultsEnv(): Record<string, string> {
  return { LD_PRELOAD: faultShim() };
}

/**
 * Child code that binds `faults` (watch, fail, counts, stop, selfTest) to the preloaded
 * shim, and `errno` to os.constants.errno.
 */
export function faultsPreamble(): string {
  return `
import { constants as __osConstants } from 'node:os';
const errno = __osConstants.errno;
const faults = (() => {
  const module = { exports: {} };
  process.dlopen(module, ${JSON.stringify(faultShim())});
  return module.exports;
})();
`;
}
