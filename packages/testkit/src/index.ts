// @strongroom/testkit: helpers for strongroom's vitest suites (Linux only, node: builtins only).
// Crash assertions and checkpointed children run snippets in fresh Node processes; residue
// checks scan those processes through /proc/PID/mem and their core files; the /proc counters
// catch leaked descriptors and mappings; expectResidue runs a residue test from a table of
// stages, and hammerSealing a sealing layer from several threads; baseline() snapshots what a
// process holds, and the vitest matchers (toCrashWith, toLeaveNoResidue, toRestoreBaseline) wrap
// these helpers; softHsm and the ageCli* helpers drive real SoftHSM2 and age tools. Each
// concept lives in its own module.

export { PROCESS_GOES_ON, runNode, startChild, userCanRead, type ChildHandle, type ChildOptions, type ChildResult } from './child.js';
export { expectCrash, type CrashResult, type CrashSignal } from './crash.js';
export {
  readMappings,
  scanMemory,
  searchChunks,
  type ChunkReader,
  type Mapping,
  type MemoryMatch,
  type ScanOptions,
  type ScanResult,
  type SearchChunksOptions,
} from './scan.js';
export { coreDumpSupport, fileContains, findCoreFiles, type CoreDumpSupport } from './core.js';
export { heapMarkerCode, makeMarker, maskMarker, textMarker, type MaskedMarker, type TextMarker } from './marker.js';
export { countMappings, lockableMemory, openFileDescriptors } from './proc.js';
export {
  startTerminal,
  terminalSupport,
  TERMINAL_SAY,
  type Terminal,
  type TerminalOptions,
  type TerminalSupport,
} from './terminal.js';
export { asyncErrorCode, errorCode, extraArgumentFailures, rejectionOf } from './errors.js';
export { FAULT_CALLS, faultShim, faultsEnv, faultsPreamble, type FaultCall } from './faults.js';
export { bytesOf, type ByteSource } from './bytes.js';
export { expectResidue, MIN_SCANNED_BYTES, type ResidueOptions, type ResidueStage } from './residue.js';
export { hammerSealing, type HammerOptions, type HammerResult, type HammerThread } from './hammer.js';
export {
  baseline,
  compareBaselines,
  PROC_FIGURES,
  STATS_FIGURES,
  type Baseline,
  type BaselineFigure,
  type BaselineTolerance,
  type FigureChange,
  type StrongroomFigures,
} from './baseline.js';
export {
  strongroomMatchers,
  toCrashWith,
  toLeaveNoResidue,
  toRestoreBaseline,
  type CrashSignalName,
  type CrashSubject,
  type MatcherResult,
  type ScannableChild,
  type StrongroomMatchers,
} from './matchers.js';
export { RFC4231_VECTORS, type HmacVector } from './vectors.js';
export { softHsm, SOFTHSM_MODULE, type SoftHsm } from './softhsm.js';
export {
  ageCli,
  ageCliDecryptWithPassphrase,
  ageCliEncrypt,
  ageCliEncryptWithPassphrase,
  ageCliKeygen,
  readAgeIdentity,
  type AgeIdentityFile,
} from './age.js';
