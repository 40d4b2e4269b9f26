// Types only: `import '@strongroom/testkit/vitest'` makes `expect(x).toCrashWith(...)`,
// `toLeaveNoResidue(...)` and `toRestoreBaseline(...)` type-check in vitest, once a test file or
// a setup file has called `expect.extend(strongroomMatchers)`. Nothing of vitest is imported
// at run time: this module is empty once compiled.
/// <reference types="vitest" preserve="true" />
import type { StrongroomMatchers } from './matchers.js';

declare module 'vitest' {
  // vitest's documented way to type custom matchers (vitest 3.2 and later).
  interface Matchers<T = any> extends StrongroomMatchers {}
}
