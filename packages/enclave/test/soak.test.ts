// `pnpm soak`, bounded: the same script that runs for minutes by hand (scripts/soak.mjs) runs
// here for six seconds, and once more with a fault planted for each of its checks, to show that
// every check can fail. The soak's child imports the built dist/ (`pnpm run build` first).
import { execFile } from 'node:child_process';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { PACKAGE_DIR } from './helpers.js';

const SCRIPT = path.join(PACKAGE_DIR, 'scripts', 'soak.mjs');

interface SoakReport {
  seconds: number;
  workers: number;
  totals: Record<string, number>;
  warmUpIterations: number;
  coffer: { rekeys: number; purges: number; backend: string };
  threads: { role: string; iterations: number; seals: number; opens: number; purges: number; mismatches: number; errors: number }[];
  checks: { name: string; ok: boolean; detail: string }[];
  passed: boolean;
}

const CHECKS = [
  "at the start, the coffer's region is the only one",
  'positive control: the live marker is found, once, in its noaccess guarded buffer',
  'negative control: a marker the child never had is not found',
  'no mismatch',
  'no unexpected error',
  'every thread reported',
  'after the soak, the marker is only in its own live buffer (no copy from its seals, opens and stream)',
  "the baseline is back (mappings within ±64 and V8's page growth)",
  "regions back to the coffer's alone, none orphaned, no SecretBuffer alive",
  'the marker is nowhere once everything is destroyed',
  'the child exited with code 0 and wrote nothing to stderr',
];

/** Runs the soak script with `args` and --json; resolves with its exit code, its report and stderr. */
function soak(args: string[]): Promise<{ code: number | null; report: SoakReport; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [SCRIPT, ...args, '--json'], { cwd: PACKAGE_DIR, timeout: 90_000 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      const line = stdout.trim().split('\n').at(-1) ?? '';
      try {
        resolve({ code, report: JSON.parse(line) as SoakReport, stderr });
      } catch {
        reject(new Error(`the soak printed no JSON report (exit ${String(code)}):\n${stdout}\n${stderr}`));
      }
    });
  });
}

/** The checks that failed, as "name: detail". */
function failed(report: SoakReport): string[] {
  return report.checks.filter((check) => !check.ok).map((check) => `${check.name}: ${check.detail}`);
}

function detailOf(report: SoakReport, name: string): string {
  const check = report.checks.find((entry) => entry.name.startsWith(name));
  if (check === undefined) throw new Error(`no check '${name}' in ${report.checks.map((entry) => entry.name).join(', ')}`);
  return check.detail;
}

describe('pnpm soak', () => {
  it('six seconds of four threads sealing, opening, streaming, rekeying and purging lose nothing and leave nothing behind', async () => {
    const { code, report, stderr } = await soak(['--seconds', '6', '--workers', '3']);
    expect(failed(report)).toEqual([]);
    expect(report.passed).toBe(true);
    expect(code).toBe(0);
    expect(stderr).toBe('');
    // Every check ran (a check that was skipped cannot fail).
    expect(report.checks.map((check) => check.name)).toEqual(CHECKS);
    // Every thread did every kind of operation, many times; purges happened, and the
    // enclaves sealed before them failed to open as they must.
    expect(report.threads.map((thread) => thread.role)).toEqual(['main', 'worker 1', 'worker 2', 'worker 3']);
    for (const thread of report.threads) {
      expect(thread.iterations, thread.role).toBeGreaterThan(20);
      expect(thread.purges, thread.role).toBeGreaterThanOrEqual(1);
    }
    const { totals } = report;
    for (const name of ['buffers', 'scopes', 'asyncScopes', 'mutations', 'seals', 'opens', 'streams', 'rekeys']) {
      expect(totals[name], name).toBeGreaterThan(50);
    }
    for (const name of ['fileStreams', 'crossPosted', 'crossOpens', 'markerRounds', 'authAfterPurge']) {
      expect(totals[name], name).toBeGreaterThan(0);
    }
    // the coffer's own counts: purges also by the warm-up round; rekeys also by the rekey thread
    expect(report.coffer.purges).toBeGreaterThanOrEqual(totals['purges']!);
    expect(report.coffer.rekeys).toBeGreaterThan(totals['rekeys']!);
    expect(report.coffer.backend).toBe('mmap');
    expect(report.warmUpIterations).toBeGreaterThan(0);
    expect(detailOf(report, 'positive control')).toMatch(/^found 1: 0x[0-9a-f]+ in ---p \(anonymous\)$/);
    expect(detailOf(report, 'the baseline is back')).toMatch(/^fds \d+, mappings .*regions 1, .*orphanedRegions 0/);
  });

  it('every check can fail: with a fault planted for each, each fails and says why', async () => {
    const { code, report } = await soak(['--seconds', '1.5', '--workers', '2', '--sabotage', 'mismatch,error,residue,fd,region']);
    expect(code).toBe(1);
    expect(report.passed).toBe(false);
    // Each fault fails the checks meant to catch it, and nothing else: the heap copy of the
    // marker (residue) is a second copy from the start, so the positive control fails too.
    const stillPassing = [
      "at the start, the coffer's region is the only one",
      'negative control: a marker the child never had is not found',
      'every thread reported',
      'the child exited with code 0 and wrote nothing to stderr',
    ];
    expect(report.checks.filter((check) => !check.ok).map((check) => check.name)).toEqual(CHECKS.filter((name) => !stillPassing.includes(name)));
    expect(detailOf(report, 'no mismatch')).toMatch(/^[1-9]\d*: main: .*the bytes differ from what was put in/);
    expect(detailOf(report, 'no unexpected error')).toMatch(/^1: worker 1: Error +sabotage: an unexpected error in a worker/);
    expect(detailOf(report, 'after the soak')).toMatch(/^found [2-9]: .*in rw-p \[heap\]/);
    const baselineDetail = detailOf(report, 'the baseline is back');
    expect(baselineDetail).toMatch(/\n {2}fds \d+ → \d+ \(\+1; opened \d+ \(.*strongroom-soak-.*\/data.*\)\)/); // the leaked descriptor
    expect(baselineDetail).toMatch(/\n {2}regions 1 → 2 \(\+1\)/); // the leaked region
    expect(detailOf(report, 'regions back')).toMatch(/^regions 2 \(the coffer's 1\)/);
    expect(detailOf(report, 'the marker is nowhere')).toMatch(/found once: 0x[0-9a-f]+ in rw-p \[heap\]$/);
  });

  it('refuses bad arguments with its usage, and takes the -- that pnpm may pass on', async () => {
    const usage = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [SCRIPT, ...args], { cwd: PACKAGE_DIR }, (error, stdout, stderr) =>
          resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr }),
        ),
      );
    for (const args of [['--seconds', '0'], ['--seconds', 'ten'], ['--workers', '0'], ['--sabotage', 'everything'], ['--minutes', '5']]) {
      const { code, stderr } = await usage(args);
      expect(code, args.join(' ')).toBe(2);
      expect(stderr).toMatch(/^soak: .*\nusage: /);
    }
    const help = await usage(['--', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^usage: .*--seconds N/s);
  });
});
