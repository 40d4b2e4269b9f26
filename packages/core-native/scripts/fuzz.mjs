#!/usr/bin/env node
// Builds the fuzz targets in fuzz/ with clang's libFuzzer, AddressSanitizer and UBSan, and
// runs them for a bounded time. Today there is one target, the delimiter reader
// (fuzz/delimiter_reader.cc over native/reader.cc).
//
//   node scripts/fuzz.mjs [seconds]          fuzz for `seconds` (default 20, or
//                                            STRONGROOM_FUZZ_SECONDS); exit 1 on a crash
//   node scripts/fuzz.mjs --replay [path...] run the target once on each file, or each file of
//                                            a folder (default: every file in fuzz/regressions/
//                                            and the seed corpus)
//   --planted-bug   the variant built with -DSTRONGROOM_FUZZ_PLANTED_BUG (a deliberate
//                   off-by-one in the target's model), to prove the target can fail
//   --no-seeds      start from an empty corpus: neither the committed seeds nor the corpus
//                   of earlier runs
//   --crashes DIR   where a crashing input is saved (default fuzz/build/crashes/)
//
// Everything built or found goes to fuzz/build/ (git-ignored): the binaries, the corpus the
// runs grow (fuzz/build/corpus/, kept between runs), and crashing inputs. A crash's input
// belongs in fuzz/regressions/ once the bug is fixed; test/fuzz.test.ts replays that folder.
// Exit codes: 0 no crash, 1 a crash (or a replayed input failed), 2 no usable clang/libFuzzer
// (run scripts/setup.sh), 3 a usage or build error.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { PACKAGE_DIR } from './addon-path.mjs';
import { ensureLibsodium, INSTALL_DIR as LIBSODIUM_DIR } from './libsodium.mjs';

const TARGET = 'delimiter_reader';
const FUZZ_DIR = path.join(PACKAGE_DIR, 'fuzz');
const BUILD_DIR = path.join(FUZZ_DIR, 'build');
const SEEDS = path.join(FUZZ_DIR, 'corpus', TARGET);
const REGRESSIONS = path.join(FUZZ_DIR, 'regressions');
const CXX = process.env.STRONGROOM_FUZZ_CXX || 'clang++';
const SETUP_HINT = 'run `bash scripts/setup.sh` at the repository root (it installs clang and libclang-rt-dev from apt)';
// The code under test, and the target. Headers are hashed too, to know when to rebuild.
const LIBRARY_SOURCES = ['native/reader.cc', 'native/guarded_memory.cc', 'native/slab.cc', 'native/mappings.cc', 'native/random.cc'];
const HEADERS = ['native/reader.h', 'native/guarded_memory.h', 'native/slab.h', 'native/mappings.h'];
const TARGET_SOURCE = `fuzz/${TARGET}.cc`;
const SANITIZERS = 'address,undefined';
const COMMON_FLAGS = ['-std=c++17', '-g', '-O1', '-fno-omit-frame-pointer', '-fno-sanitize-recover=all', '-Wall', '-Wextra'];
// Inputs stay below a pipe's 64 KiB, so the target can write them before the read.
const LIBFUZZER_FLAGS = ['-max_len=20000', '-timeout=5', '-print_final_stats=1'];

class ToolMissing extends Error {}
class UsageError extends Error {}

function say(message) {
  process.stdout.write(`[fuzz] ${message}\n`);
}

function parseArgs(argv) {
  const options = { replay: null, planted: false, seeds: true, crashes: path.join(BUILD_DIR, 'crashes'), seconds: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') continue;
    if (arg === '--replay') options.replay = [];
    else if (arg === '--planted-bug') options.planted = true;
    else if (arg === '--no-seeds') options.seeds = false;
    else if (arg === '--crashes' && argv[i + 1]) options.crashes = path.resolve(argv[++i]);
    else if (options.replay) options.replay.push(path.resolve(arg));
    else if (/^\d+$/.test(arg) && options.seconds === null) options.seconds = Number(arg);
    else throw new UsageError(`unknown argument '${arg}'; see the top of scripts/fuzz.mjs`);
  }
  options.seconds ??= Number(process.env.STRONGROOM_FUZZ_SECONDS || 20);
  if (!Number.isInteger(options.seconds) || options.seconds < 1) throw new UsageError('seconds must be a whole number from 1');
  return options;
}

function run(args, what) {
  const result = spawnSync(CXX, args, { cwd: PACKAGE_DIR, encoding: 'utf8' });
  if (result.error?.code === 'ENOENT') throw new ToolMissing(`${CXX} was not found: ${SETUP_HINT}`);
  if (result.error) throw new UsageError(`${CXX} could not be started: ${result.error.message}`);
  if (result.status === 0) return;
  const output = `${result.stdout}${result.stderr}`;
  // A clang without compiler-rt (libclang-rt-dev) misses the runtimes at the link; a compiler
  // that is not clang refuses -fsanitize=fuzzer.
  if (/libclang_rt\.(fuzzer|asan|ubsan)|sanitize=.*fuzzer/.test(output)) {
    throw new ToolMissing(`${CXX} cannot build a libFuzzer target (${output.trim().split('\n')[0]}): ${SETUP_HINT}`);
  }
  throw new UsageError(`${what} failed:\n${output.trim()}`);
}

/** Compiles (when a source, a header or a flag changed) and links the target; returns its path. */
function build(planted) {
  ensureLibsodium();
  const variant = planted ? `${TARGET}-planted-bug` : TARGET;
  const outDir = path.join(BUILD_DIR, variant);
  const binary = path.join(outDir, TARGET);
  const defines = planted ? ['-DSTRONGROOM_FUZZ_PLANTED_BUG'] : [];
  const includes = [`-I${path.join(LIBSODIUM_DIR, 'include')}`, `-I${path.join(PACKAGE_DIR, 'native')}`];
  const hash = createHash('sha256').update(JSON.stringify([CXX, COMMON_FLAGS, defines, spawnSync(CXX, ['--version'], { encoding: 'utf8' }).stdout]));
  for (const file of [...LIBRARY_SOURCES, ...HEADERS, TARGET_SOURCE]) hash.update(fs.readFileSync(path.join(PACKAGE_DIR, file)));
  const stamp = path.join(outDir, 'stamp');
  const digest = hash.digest('hex');
  if (fs.existsSync(binary) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === digest) return binary;

  fs.mkdirSync(outDir, { recursive: true });
  say(`building ${variant} with ${CXX} (libFuzzer, ASan, UBSan)`);
  const objects = [];
  for (const source of [...LIBRARY_SOURCES, TARGET_SOURCE]) {
    const object = path.join(outDir, `${path.basename(source, '.cc')}.o`);
    // The code under test gets coverage instrumentation; only the link adds libFuzzer's main.
    const sanitize = source === TARGET_SOURCE ? `-fsanitize=fuzzer,${SANITIZERS}` : `-fsanitize=fuzzer-no-link,${SANITIZERS}`;
    run([...COMMON_FLAGS, sanitize, ...defines, ...includes, '-c', source, '-o', object], `compiling ${source}`);
    objects.push(object);
  }
  const linked = `${binary}.tmp`;
  run([`-fsanitize=fuzzer,${SANITIZERS}`, ...objects, path.join(LIBSODIUM_DIR, 'lib', 'libsodium.a'), '-lpthread', '-o', linked], 'linking');
  fs.renameSync(linked, binary);
  fs.writeFileSync(stamp, digest);
  return binary;
}

/** Runs the binary, echoing nothing; resolves with its exit status and combined output. */
function execute(binary, args, limitSeconds) {
  return new Promise((resolve, reject) => {
    // cwd in the build folder: anything the sanitizers or the kernel drop there stays ignored.
    const child = spawn(binary, args, {
      cwd: BUILD_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        ASAN_OPTIONS: ['disable_coredump=1', process.env.ASAN_OPTIONS].filter(Boolean).join(':'),
        UBSAN_OPTIONS: ['print_stacktrace=1:halt_on_error=1', process.env.UBSAN_OPTIONS].filter(Boolean).join(':'),
      },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    // libFuzzer stops itself at -max_total_time; this only ends a run that hangs past it.
    const killer = setTimeout(() => child.kill('SIGKILL'), (limitSeconds + 60) * 1000);
    child.on('error', reject);
    child.on('close', (status, signal) => {
      clearTimeout(killer);
      resolve({ status: status ?? 128, signal, output });
    });
  });
}

function stat(output, name) {
  const match = output.match(new RegExp(`stat::${name}:\\s*(\\d+)`));
  return match ? Number(match[1]) : null;
}

/** The lines that say what went wrong: the target's own, and the sanitizers' and libFuzzer's. */
function diagnosis(output) {
  const lines = output.split('\n');
  const telling = lines.filter((line) => /^delimiter_reader: |^SUMMARY: |==ERROR: |runtime error: |^Running: /.test(line));
  return (telling.length > 0 ? telling.slice(-6) : lines.slice(-15)).map((line) => `    ${line}`).join('\n');
}

function filesIn(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => !name.startsWith('.'))
    .map((name) => path.join(dir, name))
    .filter((file) => fs.statSync(file).isFile())
    .sort();
}

async function replay(binary, paths) {
  // libFuzzer would fuzz a folder it is given: a folder is replaced by its files.
  const given = paths.flatMap((p) => (fs.existsSync(p) && fs.statSync(p).isDirectory() ? filesIn(p) : [p]));
  const inputs = paths.length > 0 ? given : [...filesIn(REGRESSIONS), ...filesIn(SEEDS)];
  if (inputs.length === 0) {
    say('nothing to replay');
    return 0;
  }
  const result = await execute(binary, ['-timeout=5', ...inputs], 60);
  if (result.status === 0) {
    say(`${TARGET}: replayed ${inputs.length} input(s), all passed`);
    return 0;
  }
  say(`${TARGET}: REPLAY FAILED (exit ${result.status}${result.signal ? `, ${result.signal}` : ''}):\n${diagnosis(result.output)}`);
  return 1;
}

async function fuzz(binary, options) {
  fs.mkdirSync(options.crashes, { recursive: true });
  // libFuzzer writes new inputs into the first folder only: the seeds stay as committed.
  const scratch = !options.seeds || options.planted;
  const corpus = scratch ? fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-fuzz-')) : path.join(BUILD_DIR, 'corpus', TARGET);
  fs.mkdirSync(corpus, { recursive: true });
  const folders = options.seeds ? [corpus, SEEDS] : [corpus];
  const args = [...folders, ...LIBFUZZER_FLAGS, `-max_total_time=${options.seconds}`, `-artifact_prefix=${options.crashes}${path.sep}`];
  say(`${TARGET}: fuzzing for ${options.seconds} s${options.planted ? ' (planted bug)' : ''}${options.seeds ? '' : ' from an empty corpus'}`);
  const started = Date.now();
  try {
    const result = await execute(binary, args, options.seconds);
    const elapsed = ((Date.now() - started) / 1000).toFixed(1);
    const executions = stat(result.output, 'number_of_executed_units');
    // libFuzzer's average divides by whole seconds (0 for a run under one).
    const perSecond = stat(result.output, 'average_exec_per_sec') || (executions && Math.round(executions / Number(elapsed)));
    const coverage = [...result.output.matchAll(/ cov: (\d+) ft: (\d+) corp: (\d+)\//g)].at(-1);
    const numbers = `${executions ?? '?'} executions (${perSecond ?? '?'} per second) in ${elapsed} s` +
      (coverage ? `, coverage ${coverage[1]} edges / ${coverage[2]} features, corpus ${coverage[3]} inputs` : '');
    if (result.status === 0) {
      say(`${TARGET}: no crash: ${numbers}`);
      return 0;
    }
    const saved = result.output.match(/Test unit written to (\S+)/)?.[1];
    say(`${TARGET}: CRASH (exit ${result.status}${result.signal ? `, ${result.signal}` : ''}) after ${numbers}:\n${diagnosis(result.output)}`);
    if (saved) {
      say(`the crashing input is saved as ${saved}`);
      say(`replay it: node scripts/fuzz.mjs${options.planted ? ' --planted-bug' : ''} --replay ${saved}`);
      say('once the bug is fixed (in native/, with a test), move the input into fuzz/regressions/');
    }
    return 1;
  } finally {
    if (scratch) fs.rmSync(corpus, { recursive: true, force: true });
  }
}

async function main() {
  try {
    const options = parseArgs(process.argv.slice(2));
    const binary = build(options.planted);
    return options.replay ? await replay(binary, options.replay) : await fuzz(binary, options);
  } catch (error) {
    if (error instanceof ToolMissing) {
      say(`error: ${error.message}`);
      return 2;
    }
    say(`error: ${error.message}`);
    return 3;
  }
}

process.exitCode = await main();
