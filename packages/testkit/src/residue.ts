// The residue test as a table: a child that pauses at checkpoints is, at each stage, scanned
// for a marker, checked against what the stage expects (present, absent, how many copies, in
// which mappings), and resumed; after the last stage it must exit with the expected code.
// Every failure names its stage, and the child is killed at once instead of being left
// waiting at a checkpoint until its timeout.

import { inspect, isDeepStrictEqual } from 'node:util';
import { describeExit, stderrExcerpt, type ChildHandle, type ChildResult } from './child.js';
import { validateMarker, type MemoryMatch, type ScanResult } from './scan.js';

export interface ResidueStage {
  /** Label of the checkpoint the child waits at. */
  at: string;
  /** The checkpoint's data must equal this (util.isDeepStrictEqual). Omit to ignore the data. */
  data?: unknown;
  /**
   * true: the scan finds the marker at least once (a positive control: it proves the scan sees
   * where the marker is); false: the scan finds it nowhere. Omit both `present` and `count` for a
   * stage that only waits, checks `data` and resumes, without a scan.
   */
  present?: boolean | undefined;
  /** The scan finds exactly this many copies of the marker. */
  count?: number | undefined;
  /**
   * The scan finds at most this many copies (for a copy that other code leaves on some runs
   * only; name where with `perms`). Not with `present` or `count`.
   */
  atMost?: number | undefined;
  /** Every copy found lies in a mapping whose permissions start with this: '---p', '---', 'rw'. */
  perms?: string;
  /** More assertions on this stage's scan and checkpoint data (may be async); a throw fails the stage. */
  check?: (found: ScanResult, data: unknown) => unknown;
  /** Runs right after the child was resumed from this stage, e.g. to send it a signal. */
  afterResume?: () => void;
}

export interface ResidueOptions {
  /** The code the child must exit with after the last stage; default 0. */
  exitCode?: number;
}

/** A scan that asserts absence must have read more than this: a Node process has tens of MiB. */
export const MIN_SCANNED_BYTES = 1 << 20;

const MAX_LISTED = 5;

/** "0x7f3a… in ---p (anonymous)" for up to five matches. */
export function describeMatches(matches: readonly MemoryMatch[]): string {
  const listed = matches
    .slice(0, MAX_LISTED)
    .map(({ address, mapping }) => `0x${address.toString(16)} in ${mapping.perms} ${mapping.path === '' ? '(anonymous)' : mapping.path}`);
  if (matches.length > MAX_LISTED) listed.push(`and ${matches.length - MAX_LISTED} more`);
  return listed.join(', ');
}

export function times(n: number): string {
  return n === 1 ? 'once' : `${n} times`;
}

/** Why the scan does not meet the stage, or undefined when it does. */
function scanFailure(stage: ResidueStage, found: ScanResult): string | undefined {
  const { matches } = found;
  const where = (): string => `found ${times(matches.length)}: ${describeMatches(matches)}`;
  if (stage.count !== undefined && matches.length !== stage.count) {
    if (stage.count === 0) return `expected no copy of the marker, ${where()}`;
    return `expected the marker exactly ${times(stage.count)}, ${matches.length === 0 ? 'found none' : where()}`;
  }
  if (stage.atMost !== undefined && matches.length > stage.atMost) {
    return `expected the marker at most ${times(stage.atMost)}, ${where()}`;
  }
  if (stage.present === true && matches.length === 0) {
    return `expected the marker at least once (a positive control), found none in ${found.scannedMappings} mappings (${found.scannedBytes} bytes)`;
  }
  if (stage.present === false && matches.length > 0) return `expected no copy of the marker, ${where()}`;
  if (matches.length === 0 && found.scannedBytes <= MIN_SCANNED_BYTES) {
    return `the scan read only ${found.scannedBytes} bytes (${found.scannedMappings} mappings): too little to show that the marker is absent`;
  }
  const perms = stage.perms;
  if (perms !== undefined) {
    const outside = matches.filter((match) => !match.mapping.perms.startsWith(perms));
    if (outside.length > 0) return `expected every copy in a mapping with perms '${perms}…', found ${describeMatches(outside)}`;
  }
  return undefined;
}

function validateStages(stages: readonly ResidueStage[]): void {
  if (!Array.isArray(stages) || stages.length === 0) throw new TypeError('expectResidue: stages must be a non-empty array');
  for (const stage of stages) {
    const name = `expectResidue: stage '${String(stage.at)}'`;
    if (typeof stage.at !== 'string' || stage.at === '') throw new TypeError('expectResidue: every stage needs a checkpoint label, at');
    const { count, present, atMost } = stage;
    if (atMost !== undefined && (!Number.isSafeInteger(atMost) || atMost < 0 || count !== undefined || present !== undefined)) {
      throw new RangeError(`${name}: atMost must be a non-negative integer, given without present or count`);
    }
    if (count !== undefined && (!Number.isSafeInteger(count) || count < 0)) {
      throw new RangeError(`${name}: count must be a non-negative integer, got ${count}`);
    }
    if (count !== undefined && present !== undefined && present !== count > 0) {
      throw new TypeError(`${name}: present: ${present} contradicts count: ${count}`);
    }
    const scans = count !== undefined || present !== undefined || atMost !== undefined;
    if (!scans && (stage.perms !== undefined || stage.check !== undefined)) {
      throw new TypeError(`${name}: perms and check need a scan: give present, count or atMost`);
    }
    if (stage.perms !== undefined && (present === false || count === 0)) {
      throw new TypeError(`${name}: perms says where the copies are, but the stage expects none`);
    }
  }
}

/** Puts "expectResidue: stage 'x' (2 of 3): " before an error's message, keeping the error (and its diff). */
function inStage(error: unknown, prefix: string): Error {
  if (error instanceof Error) {
    error.message = `${prefix}${error.message}`;
    return error;
  }
  return new Error(`${prefix}${inspect(error)}`, { cause: error });
}

/**
 * Walks a child from stages[0] to the last stage: at each, waits for the checkpoint `at`,
 * compares its data, scans the child's memory for `marker` (while it is stopped) and checks
 * the scan, runs `check`, then resumes the child. After the last stage the child must exit
 * with `exitCode` (default 0); resolves with how it exited. On any failure the child is
 * killed and the error names the stage.
 */
export async function expectResidue(
  child: ChildHandle,
  marker: Uint8Array,
  stages: readonly ResidueStage[],
  options: ResidueOptions = {},
): Promise<ChildResult> {
  validateMarker(marker, 'expectResidue');
  validateStages(stages);
  try {
    for (const [index, stage] of stages.entries()) {
      const prefix = `expectResidue: stage '${stage.at}' (${index + 1} of ${stages.length}): `;
      try {
        const data = await child.waitFor(stage.at);
        if ('data' in stage && !isDeepStrictEqual(data, stage.data)) {
          throw new Error(`checkpoint data ${inspect(data)}, expected ${inspect(stage.data)}`);
        }
        if (stage.present !== undefined || stage.count !== undefined || stage.atMost !== undefined) {
          const found = await child.scan(marker);
          const failure = scanFailure(stage, found);
          if (failure !== undefined) throw new Error(failure);
          await stage.check?.(found, data);
        }
        child.resume();
        stage.afterResume?.();
      } catch (error) {
        throw inStage(error, prefix);
      }
    }
    const result = await child.exited;
    const exitCode = options.exitCode ?? 0;
    if (result.code !== exitCode) {
      const how = `after the last stage the child ${describeExit(result)}, expected exit code ${exitCode}`;
      throw new Error(`expectResidue: ${how}\n${stderrExcerpt(result.stderr)}`);
    }
    return result;
  } catch (error) {
    child.kill();
    throw error;
  }
}
