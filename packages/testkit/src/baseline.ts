// A baseline is a snapshot of the resources a process holds, taken before a piece of work and
// again after it, so a test can say the work gave everything back: open descriptors, memory
// mappings, locked memory (VmLck) and threads, all read from /proc, plus strongroom's own
// figures when the caller passes a stats() object (testkit imports no strongroom package).
// compareBaselines says which figures moved, beyond an allowed tolerance for each; the
// toRestoreBaseline matcher (matchers.ts) is built on it.

import fs from 'node:fs';
import { procId, readProcText, type ProcTarget } from './proc.js';

/** The figures of strongroom's stats() (core-native) that a baseline can carry. */
export const STATS_FIGURES = ['regions', 'bytesLocked', 'bytesUnlocked', 'spareRegions', 'spareBytes', 'orphanedRegions', 'mlockFailures'] as const;
export type StatsFigure = (typeof STATS_FIGURES)[number];

/** What baseline() takes from a stats() object: any of its figures (a whole stats() result is fine). */
export type StrongroomFigures = Partial<Record<StatsFigure, number>>;

/** The figures measured from /proc, always present. */
export const PROC_FIGURES = ['fds', 'mappings', 'vmLck', 'threads'] as const;
export type ProcFigure = (typeof PROC_FIGURES)[number];
export type BaselineFigure = ProcFigure | StatsFigure;

export interface Baseline extends StrongroomFigures {
  /** The process measured (the real pid when baseline() was given 'self'). */
  readonly pid: number;
  /** Open file descriptors (/proc/PID/fd); which ones is in `descriptors`. */
  readonly fds: number;
  /** Memory mappings (lines of /proc/PID/maps). */
  readonly mappings: number;
  /** Bytes of memory locked in RAM (VmLck in /proc/PID/status; mlock'ed pages, not memfd_secret ones). */
  readonly vmLck: number;
  /** Threads of the process (Threads in /proc/PID/status). */
  readonly threads: number;
  /** Each open descriptor and what it points at (readlink), so a moved descriptor can be named. */
  readonly descriptors: Readonly<Record<number, string>>;
}

/** Allowed change per figure (absolute, either way); 0 (the default) means exactly back; Infinity ignores the figure. */
export type BaselineTolerance = Partial<Record<BaselineFigure, number>>;

/** One figure of two baselines: what it was, what it is, and whether that is more than allowed. */
export interface FigureChange {
  figure: BaselineFigure;
  before: number;
  after: number;
  allowed: number;
  moved: boolean;
  /** For fds: descriptors open now and not before, and the reverse, with their targets. */
  opened?: string[];
  closed?: string[];
}

function descriptorsOf(pid: string): Record<number, string> {
  const dir = `/proc/${pid}/fd`;
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (error) {
    throw new Error(`baseline: cannot list ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const open: Record<number, string> = {};
  for (const name of names) {
    try {
      open[Number(name)] = fs.readlinkSync(`${dir}/${name}`);
    } catch {
      // gone by now: the descriptor readdir used for the listing, or one closed meanwhile
    }
  }
  return open;
}

function statusField(status: string, field: string, file: string): number {
  const value = new RegExp(`^${field}:\\s*(\\d+)`, 'm').exec(status)?.[1];
  if (value === undefined) throw new Error(`baseline: no ${field} line in ${file}`);
  return Number(value);
}

/** The strongroom figures of a stats() object, checked. */
function statsFigures(stats: unknown): StrongroomFigures {
  if (typeof stats !== 'object' || stats === null) throw new TypeError('baseline: stats must be an object such as stats() of @strongroom/core-native');
  const figures: StrongroomFigures = {};
  for (const figure of STATS_FIGURES) {
    const value = (stats as Record<string, unknown>)[figure];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`baseline: stats.${figure} must be a finite number, got ${String(value)}`);
    figures[figure] = value;
  }
  if (Object.keys(figures).length === 0) {
    throw new TypeError(`baseline: stats has none of the figures ${STATS_FIGURES.join(', ')}; pass stats() of @strongroom/core-native`);
  }
  return figures;
}

/**
 * Measures a process now: its descriptors, mappings, locked memory and threads from /proc, plus
 * the strongroom figures of `stats` when given (stats() of core-native, measured in that process).
 */
export function baseline(pid: ProcTarget = 'self', stats?: StrongroomFigures): Baseline {
  const id = procId(pid, 'baseline');
  const figures = stats === undefined ? {} : statsFigures(stats);
  const descriptors = descriptorsOf(id);
  const mappings = readProcText(`/proc/${id}/maps`, 'baseline').split('\n').filter((line) => line !== '').length;
  const statusFile = `/proc/${id}/status`;
  const status = readProcText(statusFile, 'baseline');
  return {
    pid: pid === 'self' ? process.pid : pid,
    fds: Object.keys(descriptors).length,
    mappings,
    vmLck: statusField(status, 'VmLck', statusFile) * 1024,
    threads: statusField(status, 'Threads', statusFile),
    ...figures,
    descriptors,
  };
}

const FIGURE_NAMES: ReadonlySet<string> = new Set<string>([...PROC_FIGURES, ...STATS_FIGURES]);

function checkBaseline(value: unknown, name: string, caller: string): Baseline {
  const fields = value as Record<string, unknown> | null;
  const complete =
    typeof fields === 'object' &&
    fields !== null &&
    typeof fields['pid'] === 'number' &&
    PROC_FIGURES.every((figure) => typeof fields[figure] === 'number') &&
    typeof fields['descriptors'] === 'object' &&
    fields['descriptors'] !== null;
  if (!complete) throw new TypeError(`${caller}: ${name} must be a snapshot from baseline(), got ${String(value)}`);
  return value as Baseline;
}

function checkTolerance(tolerance: unknown, caller: string): BaselineTolerance {
  if (tolerance === undefined) return {};
  if (typeof tolerance !== 'object' || tolerance === null) throw new TypeError(`${caller}: the tolerance must be an object such as { mappings: 64 }`);
  for (const [figure, allowed] of Object.entries(tolerance)) {
    if (!FIGURE_NAMES.has(figure)) throw new TypeError(`${caller}: no figure '${figure}' in a baseline; the figures are ${[...FIGURE_NAMES].join(', ')}`);
    if (typeof allowed !== 'number' || Number.isNaN(allowed) || allowed < 0) {
      throw new RangeError(`${caller}: the tolerance of ${figure} must be a number >= 0 (Infinity ignores it), got ${String(allowed)}`);
    }
  }
  return tolerance as BaselineTolerance;
}

function described(descriptors: Readonly<Record<number, string>>, fds: readonly number[]): string[] {
  return fds.map((fd) => `${fd} (${descriptors[fd] ?? '?'})`);
}

/**
 * Every figure the two snapshots share, with whether it moved by more than its tolerance.
 * Descriptors are compared as sets of numbers: closing one and opening another moves fds by 2
 * even though their count is the same. Throws a TypeError for snapshots of two processes, or
 * when only one of them carries strongroom figures.
 */
export function compareBaselines(before: unknown, after: unknown, tolerance?: unknown, caller = 'compareBaselines'): FigureChange[] {
  const then = checkBaseline(before, 'the baseline (before)', caller);
  const now = checkBaseline(after, 'the snapshot (after)', caller);
  const allowedBy = checkTolerance(tolerance, caller);
  if (then.pid !== now.pid) throw new TypeError(`${caller}: the snapshots are of two processes (pid ${then.pid} before, ${now.pid} after)`);
  const onlyOne = STATS_FIGURES.filter((figure) => (then[figure] === undefined) !== (now[figure] === undefined));
  if (onlyOne.length > 0) {
    throw new TypeError(`${caller}: ${onlyOne.join(', ')} measured in only one snapshot: pass the same stats() figures to both baseline() calls`);
  }
  const changes: FigureChange[] = [];
  for (const figure of [...PROC_FIGURES, ...STATS_FIGURES]) {
    const was = then[figure];
    const is = now[figure];
    if (was === undefined || is === undefined) continue;
    const allowed = allowedBy[figure] ?? 0;
    if (figure === 'fds') {
      const opened = Object.keys(now.descriptors).map(Number).filter((fd) => !(fd in then.descriptors));
      const closed = Object.keys(then.descriptors).map(Number).filter((fd) => !(fd in now.descriptors));
      const moved = opened.length + closed.length > allowed;
      changes.push({ figure, before: was, after: is, allowed, moved, opened: described(now.descriptors, opened), closed: described(then.descriptors, closed) });
    } else {
      changes.push({ figure, before: was, after: is, allowed, moved: Math.abs(is - was) > allowed });
    }
  }
  return changes;
}

/** "fds 12 → 13 (+1; opened 27 (/tmp/x))", "mappings 300 → 310 (+10, allowed ±64)", "threads 7". */
export function describeChange(change: FigureChange): string {
  const { figure, before, after, allowed } = change;
  const bound = allowed === 0 ? '' : allowed === Infinity ? ', not compared' : `, allowed ±${allowed}`;
  const lists = [
    change.opened !== undefined && change.opened.length > 0 ? `opened ${change.opened.join(', ')}` : '',
    change.closed !== undefined && change.closed.length > 0 ? `closed ${change.closed.join(', ')}` : '',
  ].filter((text) => text !== '');
  if (before === after && lists.length === 0) return allowed === 0 ? `${figure} ${after}` : `${figure} ${after} (${bound.slice(2)})`;
  const delta = after - before;
  const sign = delta > 0 ? `+${delta}` : `${delta}`;
  return `${figure} ${before} → ${after} (${[`${sign}${bound}`, ...lists].join('; ')})`;
}
