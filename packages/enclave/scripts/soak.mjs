#!/usr/bin/env node
// `pnpm soak`: a bounded soak of strongroom. It starts scripts/soak-child.mjs in a child
// process (testkit's startChild) and drives it through checkpoints:
//
//   start    the child is set up (backend 'mmap', coffer, a file for fromFile): its baseline
//   planted  a marker secret is live in a guarded buffer: the scan must find it there, once
//            (the positive control), and must not find a marker it never had (negative control)
//   soaked   the main thread and the workers looped for --seconds: no mismatch, no unexpected
//            error; the marker's buffer is still live, and the scan must find the marker in it
//            alone: every seal, open and stream it went through left no copy
//   end      everything destroyed, purged, spare regions released: the baseline must be back
//            (descriptors, threads, locked memory, regions, orphaned regions; mappings within a
//            tolerance, since V8's heap maps and unmaps pages), with regions the coffer's alone,
//            and the marker must be nowhere
//
// The checks use testkit's matchers as plain functions (toLeaveNoResidue, toRestoreBaseline).
// Exit code 0 when every check passed, 1 when one failed, 2 for a usage error.
//
//   pnpm soak                          10 seconds, 3 workers
//   pnpm soak -- --seconds 600         ten minutes, by hand
//   node scripts/soak.mjs --seconds 6 --json    (the test: one JSON report on stdout)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { baseline, makeMarker, maskMarker, readMappings, startChild, toLeaveNoResidue, toRestoreBaseline } from '@strongroom/testkit';

const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));
const CHILD_URL = new URL('./soak-child.mjs', import.meta.url).href;
// Mappings move with the JS heap: V8 maps and unmaps pages as it grows and shrinks, and on
// Node 22 and later it keeps the heap pages of exited workers mapped in a pool, which grows
// with the length of the run (measured on Node 24: some 200 more pages after 30 s). Those are
// anonymous read-write mappings of whole 256 KiB V8 pages; a strongroom region is never one at
// rest (guard pages, noaccess). So the mappings may move by MAPPINGS_SLACK plus the growth in
// V8 page mappings; a leaked region also shows, exactly, in regions, bytesLocked and vmLck.
const MAPPINGS_SLACK = 64;
const V8_PAGE = 256n * 1024n;
const SABOTAGES = ['mismatch', 'error', 'residue', 'fd', 'region'];

const USAGE = `usage: pnpm soak -- [--seconds N] [--workers N] [--json]   (or: node packages/enclave/scripts/soak.mjs ...)
  --seconds N   how long the threads loop (default 10; e.g. 600 by hand)
  --workers N   worker threads besides the main thread (default 3)
  --json        print one JSON report on stdout instead of the text
  --sabotage L  tests only: plant faults (${SABOTAGES.join(',')}) that the checks must catch`;

function parseArgs(argv) {
  const options = { seconds: 10, workers: 3, json: false, sabotage: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${arg} needs a value`);
      return next;
    };
    if (arg === '--') continue; // `pnpm soak -- --seconds 600` may pass the separator on
    else if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--json') options.json = true;
    else if (arg === '--seconds') options.seconds = Number(value());
    else if (arg === '--workers') options.workers = Number(value());
    else if (arg === '--sabotage') options.sabotage = value().split(',').filter((name) => name !== '');
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!(options.seconds > 0 && options.seconds <= 86_400)) throw new Error('--seconds must be a number of seconds above 0 (at most a day)');
  if (!(Number.isInteger(options.workers) && options.workers >= 1 && options.workers <= 32)) throw new Error('--workers must be an integer from 1 to 32');
  const unknown = options.sabotage.filter((name) => !SABOTAGES.includes(name));
  if (unknown.length > 0) throw new Error(`--sabotage knows ${SABOTAGES.join(', ')}, not ${unknown.join(', ')}`);
  return options;
}

/** "0x7f…000 in ---p (anonymous), …": where the scan found the marker. */
function where(found) {
  return found.matches
    .slice(0, 5)
    .map(({ address, mapping }) => `0x${address.toString(16)} in ${mapping.perms} ${mapping.path === '' ? '(anonymous)' : mapping.path}`)
    .join(', ');
}

/** Mappings that look like V8 heap pages: anonymous, read-write, whole 256 KiB pages. */
function v8PageMappings(pid) {
  return readMappings(pid).filter(({ start, end, perms, path }) => path === '' && perms === 'rw-p' && (end - start) % V8_PAGE === 0n).length;
}

/** Sums the threads' operation counts. */
function totalsOf(reports) {
  const totals = {};
  for (const report of reports) for (const [name, count] of Object.entries(report.ops)) totals[name] = (totals[name] ?? 0) + count;
  return totals;
}

async function soak(options) {
  const checks = [];
  const check = (name, ok, detail = '') => checks.push({ name, ok: Boolean(ok), detail });
  const marker = makeMarker(32);
  const { masked, mask } = maskMarker(marker);
  const started = Date.now();
  // The child's file for fromFile lives here; removed below whatever becomes of the child.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'strongroom-soak-'));
  try {
    return await soakIn(dir, options, { check, checks, marker, masked, mask, started });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function soakIn(dir, options, { check, checks, marker, masked, mask, started }) {
  const child = await startChild(`await import(${JSON.stringify(CHILD_URL)});`, {
    cwd: PACKAGE_DIR,
    args: ['--expose-gc'],
    env: {
      SOAK_SECONDS: String(options.seconds),
      SOAK_WORKERS: String(options.workers),
      SOAK_MASKED: masked,
      SOAK_MASK: mask,
      SOAK_SABOTAGE: options.sabotage.join(','),
      SOAK_DIR: dir,
    },
    timeoutMs: (options.seconds + 120) * 1000,
  });
  let reports = [];
  let warmUp = [];
  let coffer;
  try {
    const start = await child.waitFor('start');
    const before = baseline(child.pid, start.stats);
    const v8PagesBefore = v8PageMappings(child.pid);
    check("at the start, the coffer's region is the only one", start.stats.regions === start.cofferRegions, `regions ${start.stats.regions}, the coffer's ${start.cofferRegions}`);
    child.resume();

    await child.waitFor('planted');
    const planted = await child.scan(marker);
    check(
      'positive control: the live marker is found, once, in its noaccess guarded buffer',
      planted.matches.length === 1 && planted.matches[0].mapping.perms === '---p',
      `found ${planted.matches.length}: ${where(planted)}`,
    );
    const stranger = await toLeaveNoResidue(child, makeMarker(32));
    check('negative control: a marker the child never had is not found', stranger.pass, stranger.pass ? '' : stranger.message());
    child.resume();

    const soaked = await child.waitFor('soaked');
    ({ reports, warmUp, coffer } = soaked);
    const all = [...warmUp, ...reports]; // the warm-up round's threads count too
    const mismatches = all.reduce((sum, report) => sum + report.mismatches, 0);
    const errors = all.reduce((sum, report) => sum + report.errors, 0);
    check('no mismatch', mismatches === 0, mismatches === 0 ? '' : `${mismatches}: ${all.flatMap((report) => report.firstMismatches).join(' | ')}`);
    check('no unexpected error', errors === 0, errors === 0 ? '' : `${errors}: ${all.flatMap((report) => report.firstErrors).join(' | ')}`);
    const expected = 2 * (options.workers + 1);
    check('every thread reported', all.length === expected, `${all.length} of ${expected} (the warm-up round's and the soak's)`);
    const soakedScan = await child.scan(marker);
    check(
      "after the soak, the marker is only in its own live buffer (no copy from its seals, opens and stream)",
      soakedScan.matches.length === 1 && soakedScan.matches[0].mapping.perms === '---p',
      `found ${soakedScan.matches.length}: ${where(soakedScan)}`,
    );
    child.resume();

    const end = await child.waitFor('end');
    const after = baseline(child.pid, end.stats);
    const v8PagesAfter = v8PageMappings(child.pid);
    const mappings = MAPPINGS_SLACK + Math.max(0, v8PagesAfter - v8PagesBefore);
    const restored = toRestoreBaseline(after, before, { mappings });
    const pages = `V8 page mappings ${v8PagesBefore} → ${v8PagesAfter}`;
    check(
      `the baseline is back (mappings within ±${MAPPINGS_SLACK} and V8's page growth)`,
      restored.pass,
      `${restored.pass ? restored.message().replace(/^.*?every one is back: /, '') : restored.message()}\n${pages}`,
    );
    check(
      "regions back to the coffer's alone, none orphaned, no SecretBuffer alive",
      end.stats.regions === start.cofferRegions && end.stats.orphanedRegions === 0 && end.live.buffers === 0,
      `regions ${end.stats.regions} (the coffer's ${start.cofferRegions}), orphaned ${end.stats.orphanedRegions}, live buffers ${end.live.buffers}`,
    );
    const residue = await toLeaveNoResidue(child, marker);
    check('the marker is nowhere once everything is destroyed', residue.pass, residue.pass ? '' : residue.message());
    child.resume();
  } catch (error) {
    // A child that died says so here, with its stderr (waitFor's message).
    check('the soak ran to its end', false, error instanceof Error ? error.message : String(error));
    child.kill();
  }
  const exit = await child.exited;
  check('the child exited with code 0 and wrote nothing to stderr', exit.code === 0 && exit.stderr === '', `${exit.signal ?? `code ${exit.code}`}${exit.stderr === '' ? '' : `; stderr ends: ${exit.stderr.trim().slice(-1000)}`}`);
  return {
    seconds: options.seconds,
    workers: options.workers,
    elapsedMs: Date.now() - started,
    totals: totalsOf(reports),
    warmUpIterations: totalsOf(warmUp).iterations ?? 0,
    coffer: coffer === undefined ? undefined : { rekeys: coffer.rekeys, purges: coffer.purges, backend: coffer.backend },
    threads: reports.map(({ role, ops, mismatches, errors }) => ({ role, iterations: ops.iterations, seals: ops.seals, opens: ops.opens, purges: ops.purges, mismatches, errors })),
    checks,
    passed: checks.every((entry) => entry.ok),
  };
}

function printText(report) {
  const { totals } = report;
  const line = (label, names) => `  ${label}: ${names.map((name) => `${totals[name] ?? 0} ${name}`).join(', ')}`;
  console.log(`strongroom soak: ${report.seconds} s, the main thread and ${report.workers} workers (${(report.elapsedMs / 1000).toFixed(1)} s in all)`);
  console.log(line('buffers', ['iterations', 'buffers', 'scopes', 'asyncScopes', 'mutations']));
  console.log(line('enclaves', ['seals', 'opens', 'crossPosted', 'crossOpens', 'markerRounds']));
  console.log(line('streams', ['streams', 'streamBytes', 'fileStreams']));
  console.log(line('coffer', ['rekeys', 'purges', 'authAfterPurge', 'authInRace']));
  if (report.coffer !== undefined) {
    console.log(`  the coffer (${report.coffer.backend}): ${report.coffer.rekeys} rekeys in all (rekeyCoffer() and the rekey thread), ${report.coffer.purges} purges in all`);
  }
  console.log(`  before the soak, a warm-up round of the workers: ${report.warmUpIterations} iterations`);
  for (const thread of report.threads) {
    console.log(`    ${thread.role}: ${thread.iterations} iterations, ${thread.seals} seals, ${thread.opens} opens, ${thread.purges} purges, ${thread.mismatches} mismatches, ${thread.errors} errors`);
  }
  for (const { name, ok, detail } of report.checks) {
    console.log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}${detail === '' ? '' : `\n         ${detail.replaceAll('\n', '\n         ')}`}`);
  }
  const failed = report.checks.filter((entry) => !entry.ok).length;
  console.log(report.passed ? 'soak passed' : `soak FAILED: ${failed} of ${report.checks.length} checks`);
}

let options;
try {
  options = parseArgs(process.argv.slice(2));
} catch (error) {
  console.error(`soak: ${error.message}\n${USAGE}`);
  process.exit(2);
}
if (options.help) {
  console.log(USAGE);
} else {
  const report = await soak(options);
  if (options.json) console.log(JSON.stringify(report));
  else printText(report);
  process.exitCode = report.passed ? 0 : 1;
}
